#include <bit>
#include <vmemu/mm/pte.hpp>
#include <vmemu/reclaim/workingset.hpp>

namespace vmemu {

Workingset::Workingset(std::size_t managed_pages)
{
    unsigned max_order = static_cast<unsigned>(std::bit_width(managed_pages > 0 ? managed_pages - 1 : 0));
    if (max_order > Pte::kShadowBits)
        m_bucket_order = max_order - Pte::kShadowBits;
}

std::uint64_t Workingset::eviction_shadow(const Lruvec& lruvec) const
{
    return (lruvec.nonresident_age() >> m_bucket_order) & Pte::kShadowMask;
}

std::uint64_t Workingset::refault_distance(const Lruvec& lruvec, std::uint64_t shadow) const
{
    std::uint64_t now = (lruvec.nonresident_age() >> m_bucket_order) & Pte::kShadowMask;
    return ((now - shadow) & Pte::kShadowMask) << m_bucket_order;
}

bool Workingset::refault_should_activate(const Lruvec& lruvec, std::uint64_t shadow) const
{
    // With swap present the anon workingset competes with the whole file LRU and the active
    // anon list.
    std::uint64_t workingset = lruvec.size(LruList::ActiveFile) + lruvec.size(LruList::InactiveFile)
        + lruvec.size(LruList::ActiveAnon);
    return refault_distance(lruvec, shadow) <= workingset;
}

} // namespace vmemu
