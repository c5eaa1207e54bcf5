#pragma once
#include <atomic>
#include <cstdint>
#include <vmemu/base/virt_addr.hpp>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/os/memory.hpp>
#include <vmemu/os/userfaultfd.hpp>
#include <vmemu/phys/frame_arena.hpp>
#include <vmemu/stats/vm_stat.hpp>

namespace vmemu {

// How many real kernel mappings (VMAs of the process) a Machine's hardware views may use.
// Every run of pages mapped at consecutive memfd offsets with one protection is one kernel
// VMA, and so is every PROT_NONE gap between runs; vm.max_map_count caps the total. The
// callers compute each change's exact effect on the count, and a change that would pass the
// limit is refused up front, so vmemu never runs into the kernel's ENOMEM blindly.
// Locking: lock-free; charges are atomic.
class KernelMapBudget {
public:
    explicit KernelMapBudget(std::size_t limit)
        : m_limit(static_cast<std::int64_t>(limit))
    {
    }
    // Adds delta; refuses (and changes nothing) if a growth would pass the limit.
    bool try_charge(std::int64_t delta);
    // Adds delta unconditionally; for changes that take access away, which must happen.
    void charge(std::int64_t delta) { m_used.fetch_add(delta, std::memory_order_relaxed); }
    std::int64_t used() const { return m_used.load(std::memory_order_relaxed); }
    std::int64_t limit() const { return m_limit; }

private:
    std::int64_t m_limit;
    std::atomic<std::int64_t> m_used { 0 };
};

// The hardware view of one address space: the real kernel's mappings of its reservation,
// which vmemu keeps equal to or more restrictive than the emulated PTEs. Two kinds:
// - SIGSEGV: the reservation is PROT_NONE, and a frame is mapped by a MAP_SHARED mapping of
//   its memfd page at the address (one kernel VMA per run of consecutive frames);
// - userfaultfd (docs/userfaultfd.md): the reservation is anonymous memory registered for
//   missing pages, with the emulated VMAs' protections; a frame is mapped by UFFDIO_COPY of its
//   bytes into the page (its memfd page is punched meanwhile, so that memory is not held
//   twice), and taken away by UFFDIO_MOVE of the page into a staging pool, from where its
//   bytes go back to the frame; a page is missing, never unregistered, at every moment.
// Locking: callers hold the address space's page_table_lock, so that the PTE bits that record
// the hardware view change together with it; except copy_in() of new pages whose PTEs the
// caller marked pending (Pte::kPending), which no other thread touches until they are mapped.
class Mmu {
public:
    // KernelAtMapCount: mmap said ENOMEM, as at vm.max_map_count; KernelOutOfMemory:
    // UFFDIO_COPY said ENOMEM, the host having no page for the copy; KernelRefused: any other
    // error, which map() and copy_in() have written to stderr with the address.
    enum class MapOutcome : std::uint8_t { Mapped, OverBudget, KernelAtMapCount, KernelOutOfMemory, KernelRefused };

    Mmu(const FrameArena& arena, KernelMapBudget& budget, VmStat& stat)
        : m_arena(arena)
        , m_budget(budget)
        , m_stat(stat)
    {
    }

    // Maps [start, start + count pages) to frames [first, first + count), populated. OverBudget,
    // without a system call, when the kernel-mapping budget cannot take mapping_delta.
    MapOutcome map(VirtAddr start, Pfn first, std::size_t count, os::HwProt prot, std::int64_t mapping_delta);
    // Puts [start, start + count pages) back to PROT_NONE reservation.
    VmResult<void> unmap(VirtAddr start, std::size_t count, std::int64_t mapping_delta);
    // Charges the reservation itself (one kernel mapping) or releases it.
    void charge_reservation(std::int64_t delta);

    // The userfaultfd kind, with pool: kPoolPages pages registered with uffd, for this Mmu
    // alone (its callers hold the page_table_lock), then as many executable ones: UFFDIO_MOVE
    // moves a page only between mappings of the same protection.
    static constexpr std::size_t kPoolPages = 64;
    static constexpr std::size_t kPoolBytes = 2 * kPoolPages << kPageShift;
    void use_userfault(os::Userfaultfd& uffd, VirtAddr pool)
    {
        m_uffd = &uffd;
        m_pool = pool;
    }
    bool userfault() const { return m_uffd != nullptr; }
    VirtAddr pool() const { return m_pool; }
    // What copy_in() puts in the pages: the frames' bytes, or zeros (a new anonymous page,
    // whose frame was not zeroed: its bytes in the direct map are never read).
    enum class Source : std::uint8_t { Frame, Zero };
    // userfaultfd: the bytes of frames [first, first + count), or zeros, into the missing pages
    // at start; the frames' memfd pages are punched after, so that no byte is held twice.
    MapOutcome copy_in(VirtAddr start, Pfn first, std::size_t count, Source source);
    // userfaultfd: takes [start, start + count pages), at most kPoolPages, out of the
    // reservation, the bytes of page i back into frame pfns[i]. A writable page is moved out;
    // a read-only one, which nobody can have changed, is copied and dropped. Returns how many
    // of the first pages it took; fewer than count only with an error in *error (a page pinned
    // by I/O in flight is EBUSY), the others staying mapped.
    std::size_t take_out(VirtAddr start, const Pfn* pfns, std::size_t count, os::HwProt prot, VmError* error);
    // userfaultfd: drops [start, start + count pages) from the reservation, bytes and all; the
    // pages are missing again.
    VmResult<void> discard(VirtAddr start, std::size_t count);
    // userfaultfd: gives [start, start + count pages) of the reservation the protection prot and
    // registers it for missing pages (again: a range that mapped frames lost its registration).
    VmResult<void> protect(VirtAddr start, std::size_t count, os::HwProt prot);

private:
    const FrameArena& m_arena;
    KernelMapBudget& m_budget;
    VmStat& m_stat;
    os::Userfaultfd* m_uffd { nullptr };
    VirtAddr m_pool;
};

} // namespace vmemu
