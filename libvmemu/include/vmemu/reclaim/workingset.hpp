#pragma once
#include <cstdint>
#include <vmemu/reclaim/lruvec.hpp>

namespace vmemu {

// Refault detection of mm/workingset.c for anonymous pages. An evicted page leaves a shadow
// in its swap PTE: the lruvec's nonresident age at eviction. When it faults back in, the
// refault distance (how much the age advanced meanwhile) tells whether the page would have
// stayed resident with that much more memory; if the distance fits in the workingset, the page
// is activated at once instead of starting over on the inactive list.
// Locking: none; it reads atomics of the lruvec.
class Workingset {
public:
    // The shadow fits Pte::kShadowBits; ages are kept in buckets of 2^bucket_order evictions
    // when the machine has more pages than the bits can count, as Linux does.
    explicit Workingset(std::size_t managed_pages);

    std::uint64_t eviction_shadow(const Lruvec& lruvec) const;
    // workingset_refault(): true when the page belongs to the workingset and should be active.
    bool refault_should_activate(const Lruvec& lruvec, std::uint64_t shadow) const;
    std::uint64_t refault_distance(const Lruvec& lruvec, std::uint64_t shadow) const;

private:
    unsigned m_bucket_order { 0 };
};

} // namespace vmemu
