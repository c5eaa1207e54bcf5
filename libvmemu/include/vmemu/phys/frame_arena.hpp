#pragma once
#include <cstddef>
#include <cstring>
#include <memory>
#include <vmemu/base/page.hpp>
#include <vmemu/base/pfn.hpp>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/phys/page_frame.hpp>

namespace vmemu {

// The physical memory of a Machine: one memfd of frame_count() frames, the direct map through
// which vmemu reads and writes them (the kernel's physmap), and the mem_map of PageFrame
// descriptors. After the usable frames the memfd holds kZeroFrames shared zero frames.
// On the userfaultfd view a frame may keep its bytes in a second, anonymous direct map instead
// (add_anon_map()): a private page is moved between the reservation and its frame's slot there
// with UFFDIO_MOVE, which needs anonymous memory on both sides. direct_map() says where.
// Invariants: the arena never grows or shrinks; the zero frames are never written; a frame's
// bytes are in one place: its slot in the anonymous map (PG_anon_home, its memfd page a hole)
// or its memfd page (its slot empty).
// Locking: none; the descriptors carry their own synchronization. A frame changes its home only
// in the hands of its one user (allocation, or mapping and unmapping under the page_table_lock).
class FrameArena {
public:
    // Zero frames come in colours, as MIPS's ZERO_PAGE(vaddr) does: the page at virtual page
    // number v reads the zero frame (v mod kZeroFrames), so that neighbouring zero-page
    // mappings sit at consecutive memfd offsets and the kernel merges them into one mapping.
    static constexpr std::size_t kZeroFrames = 16;

    static VmResult<std::unique_ptr<FrameArena>> create(std::size_t frame_count);
    ~FrameArena();
    FrameArena(const FrameArena&) = delete;
    FrameArena& operator=(const FrameArena&) = delete;

    std::size_t frame_count() const { return m_frame_count; }
    int fd() const { return m_fd; }
    std::uint64_t file_offset(Pfn pfn) const { return pfn.get() << kPageShift; }

    PageFrame& frame(Pfn pfn) const { return m_mem_map[pfn.get()]; }
    Pfn pfn_of(const PageFrame& frame) const { return Pfn(static_cast<std::uint64_t>(&frame - m_mem_map)); }
    // Where vmemu reads and writes frame pfn: its slot in the anonymous direct map or its page
    // in the memfd's.
    std::byte* direct_map(Pfn pfn) const
    {
        return frame(pfn).test(PageFlag::AnonHome) ? anon_slot(pfn) : m_direct_map + (pfn.get() << kPageShift);
    }

    // The anonymous direct map: frame_count() pages of private anonymous memory, which the
    // userfaultfd fault source registers (for write protection only, so that vmemu's own
    // accesses never fault) to make it a UFFDIO_MOVE destination. Unlike the memfd's, a child
    // of fork() inherits it copy-on-write.
    VmResult<void> add_anon_map();
    bool has_anon_map() const { return m_anon_map != nullptr; }
    std::byte* anon_map() const { return m_anon_map; }
    std::size_t anon_map_bytes() const { return m_frame_count << kPageShift; }
    std::byte* anon_slot(Pfn pfn) const { return m_anon_map + (pfn.get() << kPageShift); }
    // Frames [first, first + count) that keep their bytes in the anonymous map give them up:
    // their slots are emptied, and they read as zero from the memfd's holes (PG_zeroed).
    void drop_anon_home(Pfn first, std::size_t count) const;
    // Frames [first, first + count) that keep their bytes in the anonymous map take them to
    // the memfd, from where the memfd view maps them (a swap-in for a VMA that it maps).
    void move_home_to_memfd(Pfn first, std::size_t count) const;

    Pfn zero_pfn(std::uint64_t vpn) const { return Pfn(m_frame_count + vpn % kZeroFrames); }
    bool is_zero_pfn(Pfn pfn) const { return pfn.get() >= m_frame_count; }
    bool is_valid(Pfn pfn) const { return pfn.get() < m_frame_count + kZeroFrames; }

    // In a child of fork(), which inherits the parent's memfd but not the direct map
    // (MADV_DONTFORK): the arena gets a memfd of its own, holding a copy of every frame in use
    // (refcount above 0) whose memfd page is not a hole (PG_zeroed), mapped where the direct
    // map was. The parent must not change its
    // frames until this returns. On failure the arena is unusable.
    VmResult<void> reopen_in_child();

    // Zeroes count frames from first through the direct map, skipping those known to be zero.
    void zero_frames(Pfn first, std::size_t count) const;
    // folio_zero_segment(): zeroes bytes [from, to) of frame through the direct map.
    void zero_segment(const PageFrame& frame, std::size_t from, std::size_t to) const
    {
        std::memset(direct_map(pfn_of(frame)) + from, 0, to - from);
    }

private:
    FrameArena(int fd, std::size_t frame_count, std::byte* direct_map, PageFrame* mem_map)
        : m_fd(fd)
        , m_frame_count(frame_count)
        , m_direct_map(direct_map)
        , m_mem_map(mem_map)
    {
    }
    std::size_t total_frames() const { return m_frame_count + kZeroFrames; }

    int m_fd;
    std::size_t m_frame_count;
    std::byte* m_direct_map;
    std::byte* m_anon_map { nullptr };
    PageFrame* m_mem_map;
};

} // namespace vmemu
