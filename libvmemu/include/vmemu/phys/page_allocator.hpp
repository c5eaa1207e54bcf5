#pragma once
#include <optional>
#include <vmemu/phys/buddy_allocator.hpp>
#include <vmemu/phys/frame_arena.hpp>
#include <vmemu/phys/watermarks.hpp>
#include <vmemu/stats/vm_stat.hpp>

namespace vmemu {

enum class ZeroFill : bool { No, Yes };

// The page allocator front end (__alloc_pages): buddy allocation plus zeroing, the
// pgalloc/pgfree counters and the watermarks. Every frame it hands out has refcount 1 and is
// zeroed when asked, so a frame never carries an earlier owner's data.
// Locking: none of its own; the buddy allocator has the zone lock.
class PageAllocator {
public:
    PageAllocator(FrameArena& arena, VmStat& stat);

    std::optional<Pfn> alloc_page(ZeroFill zero) { return alloc_contig(1, std::nullopt, zero); }
    // count physically contiguous frames, starting at preferred when those frames are free,
    // else wherever a block of the next power of two is free.
    std::optional<Pfn> alloc_contig(std::size_t count, std::optional<Pfn> preferred, ZeroFill zero);
    void free_page(Pfn pfn) { free_contig(pfn, 1); }
    void free_contig(Pfn first, std::size_t count);

    FrameArena& arena() const { return m_arena; }
    BuddyAllocator& buddy() { return m_buddy; }
    const BuddyAllocator& buddy() const { return m_buddy; }
    const Watermarks& watermarks() const { return m_watermarks; }

private:
    FrameArena& m_arena;
    VmStat& m_stat;
    BuddyAllocator m_buddy;
    Watermarks m_watermarks;
};

} // namespace vmemu
