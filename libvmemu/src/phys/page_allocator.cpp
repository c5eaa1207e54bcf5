#include <bit>
#include <vmemu/phys/page_allocator.hpp>

namespace vmemu {

PageAllocator::PageAllocator(FrameArena& arena, VmStat& stat)
    : m_arena(arena)
    , m_stat(stat)
    , m_buddy(arena)
    , m_watermarks(Watermarks::for_managed_pages(arena.frame_count()))
{
}

std::optional<Pfn> PageAllocator::alloc_contig(std::size_t count, std::optional<Pfn> preferred, ZeroFill zero)
{
    if (count == 0 || count > (std::size_t { 1 } << BuddyAllocator::kMaxOrder))
        return std::nullopt;
    std::optional<Pfn> first;
    if (preferred && m_buddy.alloc_range(*preferred, count)) {
        first = preferred;
    } else {
        auto order = static_cast<unsigned>(std::bit_width(count - 1));
        first = m_buddy.alloc_pages(order);
        if (!first)
            return std::nullopt;
        // alloc_pages_exact(): give back the tail beyond count.
        std::size_t block = std::size_t { 1 } << order;
        if (block > count)
            m_buddy.free_range(*first + count, block - count);
    }
    if (zero == ZeroFill::Yes) {
        m_arena.zero_frames(*first, count);
    } else {
        for (std::size_t i = 0; i < count; ++i)
            m_arena.frame(*first + i).clear(PageFlag::Zeroed);
    }
    m_stat.add(VmStatItem::PgAllocNormal, static_cast<std::int64_t>(count));
    return first;
}

void PageAllocator::free_contig(Pfn first, std::size_t count)
{
    m_buddy.free_range(first, count);
    m_stat.add(VmStatItem::PgFree, static_cast<std::int64_t>(count));
}

} // namespace vmemu
