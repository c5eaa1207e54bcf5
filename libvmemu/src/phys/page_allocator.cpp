#include <algorithm>
#include <bit>
#include <ctime>
#include <vmemu/phys/page_allocator.hpp>
#include <vmemu/trace/latency.hpp>

namespace vmemu {

PageAllocator::PageAllocator(FrameArena& arena, VmStat& stat)
    : m_arena(arena)
    , m_stat(stat)
    , m_buddy(arena)
    , m_watermarks(Watermarks::for_managed_pages(arena.frame_count()))
{
}

std::optional<Pfn> PageAllocator::take(std::size_t count, std::optional<Pfn> preferred)
{
    if (preferred && m_buddy.alloc_range(*preferred, count))
        return preferred;
    auto order = static_cast<unsigned>(std::bit_width(count - 1));
    auto first = m_buddy.alloc_pages(order);
    if (!first)
        return std::nullopt;
    // alloc_pages_exact(): give back the tail beyond count.
    std::size_t block = std::size_t { 1 } << order;
    if (block > count)
        m_buddy.free_range(*first + count, block - count);
    return first;
}

std::optional<Pfn> PageAllocator::alloc_contig(std::size_t count, std::optional<Pfn> preferred, ZeroFill zero,
    MayReclaim reclaim, FrameHome home)
{
    if (count == 0 || count > (std::size_t { 1 } << BuddyAllocator::kMaxOrder))
        return std::nullopt;
    std::uint64_t start = trace::measuring() ? trace::now_ns() : 0;
    std::optional<Pfn> first;
    bool can_reclaim = reclaim == MayReclaim::Yes && m_hooks.direct_reclaim;
    // __alloc_pages(): the fast path keeps min free for those who cannot reclaim; the slow
    // path reclaims directly until the allocation fits, and retries while reclaim makes
    // progress (should_reclaim_retry()): frames one thread frees may go to another first.
    unsigned stalls = 0;
    for (;;) {
        bool enough = m_buddy.nr_free() >= m_watermarks.min + count;
        if (!can_reclaim || enough) {
            // With enough free frames a failure means fragmentation, which reclaim of single
            // pages does not cure: the caller asks for fewer.
            first = take(count, preferred);
            break;
        }
        if (m_hooks.direct_reclaim(m_hooks.context, count)) {
            stalls = 0;
            continue;
        }
        // Reclaim freed nothing: the last resort before running out is the reserve.
        first = take(count, preferred);
        if (first || ++stalls >= kMaxReclaimRetries)
            break;
        // reclaim_throttle(VMSCAN_THROTTLE_NOPROGRESS): what other reclaimers hold isolated,
        // what is being touched as it is scanned, or a swap write not yet done may be
        // freeable a moment later. The wait doubles, from 1 ms to 64 ms, so that the retries
        // last about 0.7 s in all: with 1 ms each they passed before the swap writes of a
        // loaded machine ended, in an OOM kill with anonymous pages on the LRU and room in
        // swap.
        timespec moment { 0, static_cast<long>(1'000'000) << std::min(stalls - 1, 6u) };
        nanosleep(&moment, nullptr);
    }
    if (!first)
        return std::nullopt;
    if (m_hooks.wake_kswapd && m_buddy.nr_free() < m_watermarks.low)
        m_hooks.wake_kswapd(m_hooks.context);
    if (home == FrameHome::Memfd && zero != ZeroFill::ByMapper && m_arena.has_anon_map())
        m_arena.drop_anon_home(*first, count);
    if (zero == ZeroFill::Yes) {
        m_arena.zero_frames(*first, count);
    } else if (zero == ZeroFill::No) {
        for (std::size_t i = 0; i < count; ++i)
            m_arena.frame(*first + i).clear(PageFlag::Zeroed);
    }
    m_stat.add(VmStatItem::PgAllocNormal, static_cast<std::int64_t>(count));
    // One event per allocation, as alloc_pages_exact() makes one: its order rounded up.
    trace::emit(trace::Event::MmPageAlloc, reinterpret_cast<std::uintptr_t>(&m_arena.frame(*first)), first->get(),
        std::bit_width(count - 1), zero == ZeroFill::Yes);
    if (start)
        trace::record_latency(trace::Latency::PageAlloc, trace::now_ns() - start);
    return first;
}

void PageAllocator::free_contig(Pfn first, std::size_t count)
{
    std::uint64_t start = trace::measuring() ? trace::now_ns() : 0;
    m_buddy.free_range(first, count);
    m_stat.add(VmStatItem::PgFree, static_cast<std::int64_t>(count));
    trace::emit(trace::Event::MmPageFree, reinterpret_cast<std::uintptr_t>(&m_arena.frame(first)), first.get(),
        std::bit_width(count - 1));
    if (start)
        trace::record_latency(trace::Latency::PageFree, trace::now_ns() - start);
}

} // namespace vmemu
