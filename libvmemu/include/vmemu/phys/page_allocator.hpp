#pragma once
#include <cstdint>
#include <optional>
#include <vmemu/phys/buddy_allocator.hpp>
#include <vmemu/phys/frame_arena.hpp>
#include <vmemu/phys/watermarks.hpp>
#include <vmemu/stats/vm_stat.hpp>

namespace vmemu {

// What an allocation does about the frames' old bytes. No: nothing (the caller overwrites them);
// Yes: zeroes them; ByMapper: nothing, for a caller whose hardware view fills the pages with
// zeros as it maps them (the userfaultfd view), and PG_zeroed is left as it was, saying which
// frames hold no bytes at all.
enum class ZeroFill : std::uint8_t { No, Yes, ByMapper };
// Where the frames' bytes may live (FrameArena): in the memfd, for every user that maps frames
// from it or does not care; or also in the anonymous direct map, for a swap-in, whose page the
// userfaultfd view then moves in from there. ZeroFill::ByMapper takes frames wherever they are.
enum class FrameHome : bool { Memfd, Any };
// Whether an allocation may reclaim (GFP_KERNEL) or must not (GFP_NOWAIT): callers that hold a
// page_table_lock, and readahead, must not.
enum class MayReclaim : bool { No, Yes };

// What the allocator asks of reclaim (mm/vmscan.c), installed by the Machine: waking kswapd
// below the low watermark, and direct reclaim when an allocation would go below min.
struct ReclaimHooks {
    void* context { nullptr };
    void (*wake_kswapd)(void* context) { nullptr };
    // Frees frames or starts their writeback; true if it made progress (frames freed, by this
    // call or meanwhile), false if it freed nothing.
    bool (*direct_reclaim)(void* context, std::size_t pages) { nullptr };
};

// The page allocator front end (__alloc_pages): buddy allocation plus zeroing, the
// pgalloc/pgfree counters and the watermarks. Every frame it hands out has refcount 1 and is
// zeroed when asked, so a frame never carries an earlier owner's data.
// Locking: none of its own; the buddy allocator has the zone lock.
class PageAllocator {
public:
    PageAllocator(FrameArena& arena, VmStat& stat);

    std::optional<Pfn> alloc_page(ZeroFill zero, MayReclaim reclaim = MayReclaim::Yes, FrameHome home = FrameHome::Memfd)
    {
        return alloc_contig(1, std::nullopt, zero, reclaim, home);
    }
    // count physically contiguous frames, starting at preferred when those frames are free,
    // else wherever a block of the next power of two is free. With MayReclaim::Yes an
    // allocation that would take free frames below the min watermark reclaims first.
    std::optional<Pfn> alloc_contig(std::size_t count, std::optional<Pfn> preferred, ZeroFill zero,
        MayReclaim reclaim = MayReclaim::Yes, FrameHome home = FrameHome::Memfd);
    void set_reclaim_hooks(const ReclaimHooks& hooks) { m_hooks = hooks; }
    void free_page(Pfn pfn) { free_contig(pfn, 1); }
    void free_contig(Pfn first, std::size_t count);

    FrameArena& arena() const { return m_arena; }
    BuddyAllocator& buddy() { return m_buddy; }
    const BuddyAllocator& buddy() const { return m_buddy; }
    const Watermarks& watermarks() const { return m_watermarks; }

private:
    // Direct reclaims in a row that free nothing before an allocation fails (MAX_RECLAIM_RETRIES).
    static constexpr unsigned kMaxReclaimRetries = 16;
    std::optional<Pfn> take(std::size_t count, std::optional<Pfn> preferred);

    FrameArena& m_arena;
    VmStat& m_stat;
    BuddyAllocator m_buddy;
    Watermarks m_watermarks;
    ReclaimHooks m_hooks;
};

} // namespace vmemu
