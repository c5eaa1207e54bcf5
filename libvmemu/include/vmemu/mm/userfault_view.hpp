#pragma once
#include <cstdint>
#include <vmemu/mm/hardware_view.hpp>
#include <vmemu/mm/page_table.hpp>
#include <vmemu/os/userfaultfd.hpp>
#include <vmemu/phys/frame_arena.hpp>

namespace vmemu {

// The hardware view through userfaultfd (docs/userfaultfd.md): a VMA's range of the
// reservation is anonymous memory with the VMA's protection, registered for missing pages.
// Where the arena has an anonymous map (FrameArena::add_anon_map(), with write protection), a
// writable page is taken out by UFFDIO_MOVE into its frame's slot there, and mapped again by
// UFFDIO_MOVE from the slot: no copy either way. Otherwise, and for pages it cannot move, a
// frame is mapped by UFFDIO_COPY of its bytes (or of zeros, for a new page) into the page, and
// its memfd page punched (or slot emptied) meanwhile, so that memory is not held twice; and a
// page is taken out by UFFDIO_MOVE into a staging pool, from where its bytes are copied to the
// frame. Every VMA's range is registered at every moment, and a page in it is missing or
// mapped: the kernel holds a VMA in one kernel mapping, whatever its pages.
// A frame mapped here is this page alone (no sharing). Where the kernel has userfaultfd write
// protection, a page is mapped with its VMA's protection or write-protected in a writable VMA
// (UFFDIO_COPY_MODE_WP): its first write is then a fault, delivered as a missing page's is,
// that lifts the protection (UFFDIO_WRITEPROTECT), so that a clean page stays clean until it
// is written; and the zero frame is mapped as the kernel's zero page (UFFDIO_ZEROPAGE), then
// write-protected, so that a read of untouched memory costs no frame. Between those two calls
// another thread's write is copied on write inside the kernel, unseen: the page is checked for
// zeros once protected, and one that was written is Written (racy_zero_page). Pages that take
// no write fault are dirty as they are mapped writable (docs/userfaultfd.md on dirty bits).
// Locking: as HardwareView's; the pool is the page_table_lock's.
class UserfaultView final : public HardwareView {
public:
    // The pool: kPoolPages registered pages, then as many executable ones, since UFFDIO_MOVE
    // moves a page only between mappings of the same protection. The fault source makes and
    // registers it (its registration goes with the userfaultfd); the view unmaps it.
    static constexpr std::size_t kPoolPages = 64;
    static constexpr std::size_t kPoolBytes = 2 * kPoolPages << kPageShift;

    UserfaultView(PageTable& page_table, const FrameArena& arena, os::Userfaultfd& uffd, VirtAddr pool)
        : m_page_table(page_table)
        , m_arena(arena)
        , m_uffd(uffd)
        , m_pool(pool)
    {
    }
    ~UserfaultView() override;
    UserfaultView(const UserfaultView&) = delete;
    UserfaultView& operator=(const UserfaultView&) = delete;

    VirtAddr pool() const { return m_pool; }

    HwCapabilities capabilities() const override
    {
        return HwCapabilities { .shares_frames = false, .zero_page = m_uffd.write_protect(),
            .write_protect = m_uffd.write_protect(), .follows_vmas = true, .holds_bytes = true, .fills_zeros = true,
            .racy_zero_page = true, .survives_fork = m_uffd.write_protect() };
    }
    std::uint64_t pte_tag() const override { return Pte::kHwUserfault; }
    HwMapOutcome map(VirtAddr start, Pfn first, std::size_t count, os::HwProt prot, HwFill fill) override;
    VmResult<void> unmap(VirtAddr start, VirtAddr end) override;
    VmResult<void> discard(VirtAddr start, VirtAddr end) override;
    // mprotect() of the range, and its registration for missing pages again (a range that
    // mapped frames through the memfd lost its registration).
    void protect(VirtAddr start, VirtAddr end, os::HwProt prot) override;
    void forget_mappings() override { }
    // Write-protects the mapped pages of [start, end) (in a child of fork(), whose kernel
    // dropped the parent's protections).
    VmResult<void> write_protect(VirtAddr start, VirtAddr end) { return m_uffd.set_write_protect(start, end - start, true); }

private:
    // UFFDIO_ZEROPAGE at start, then its write protection; Written when the page no longer
    // reads as zeros after that (another thread wrote it in between, and the kernel copied it).
    HwMapOutcome map_zero_page(VirtAddr start);
    // The bytes of frames [first, first + count) live in the view's pages now: the frames'
    // memfd pages are punched and their slots emptied, so that no byte is held twice.
    void empty_frames(Pfn first, std::size_t count);
    // Takes [start, start + count pages), at most kPoolPages of one protection, out of the
    // reservation, the bytes of page i back into frame pfns[i]. A writable page is moved out;
    // a read-only one, which nobody can have changed, is copied and dropped. Returns how many
    // of the first pages it took; fewer than count only with an error in *error (a page pinned
    // by I/O in flight is EBUSY), the others staying mapped.
    std::size_t take_out(VirtAddr start, const Pfn* pfns, std::size_t count, os::HwProt prot, VmError* error);
    // take_out() of writable pages into their frames' slots in the anonymous map, moved there
    // with no copy (FrameArena::anon_slot()), which become their frames' homes.
    std::size_t take_out_to_anon_map(VirtAddr start, const Pfn* pfns, std::size_t count, VmError* error);
    // Moves the leading frames of [first, first + count) whose bytes are in the anonymous map
    // into the pages from start, with no copy; returns how many moved (the rest are copied).
    std::size_t move_in(VirtAddr start, Pfn first, std::size_t count);
    // Undoes move_in() of count pages from start, when the copy of the rest failed.
    void move_back(VirtAddr start, Pfn first, std::size_t count);
    // Moves the writable page at page to to, the pool page or slot for frame pfn; a page that another
    // process shares copy-on-write (UFFDIO_MOVE says EBUSY, and no system call pins pfn) is
    // write-protected, copied and dropped instead.
    VmResult<void> move_out(VirtAddr page, VirtAddr to, Pfn pfn);

    PageTable& m_page_table;
    const FrameArena& m_arena;
    os::Userfaultfd& m_uffd;
    const VirtAddr m_pool;
};

} // namespace vmemu
