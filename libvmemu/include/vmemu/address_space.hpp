#pragma once
// Lock order, for all of vmemu (a thread may only take a lock lower in this list than the
// ones it holds):
//   1. AddressSpace::m_mmap_lock      (RwSemaphore; shared for faults, exclusive for changes)
//   1a. Machine::file_work_lock()      (RwSemaphore; shared for work on file pages outside an
//                                       mmap_lock, exclusive for fork(2))
//   1b. InodeCache::m_lock             (Mutex; mmap, munmap, and the flusher releasing an Inode)
//   1c. FileIo::m_submit_lock          (Mutex; submitting file reads and writes)
//   2. Machine::spaces_lock()         (RwSemaphore; shared for reverse-map walks, and it keeps
//                                       every space such a walk finds alive: a space leaves
//                                       its anon_vmas first, then unregisters under it)
//   3. Inode::i_mmap_lock()            (RwSemaphore; shared for walks of a file's mappings,
//                                       exclusive for VMA changes)
//   4. AnonVma::lock()                 (RwSemaphore; shared for walks, exclusive for VMA changes)
//   5. AddressSpace::m_page_table_lock (Mutex; PTE values and the hardware view; a fork holds
//                                       the parent's, then the child's)
//   6. BuddyAllocator::m_lock          (Spinlock, the zone lock)
// None of them is ever held while vmemu touches emulated memory: it reaches frames through
// the direct map only, so no fault can arrive while a vmemu lock is held.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <string>
#include <vector>
#include <sys/types.h>
#include <vmemu/base/thread_annotations.hpp>
#include <vmemu/base/virt_addr.hpp>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/mm/fault_result.hpp>
#include <vmemu/mm/memfd_view.hpp>
#include <vmemu/mm/page_table.hpp>
#include <vmemu/mm/page_walk.hpp>
#include <vmemu/mm/userfault_view.hpp>
#include <vmemu/mm/vma_tree.hpp>
#include <vmemu/sync/mutex.hpp>
#include <vmemu/sync/rw_semaphore.hpp>

namespace vmemu {

class Machine;
namespace trace {
enum class FaultType : std::uint8_t;
} // namespace trace

// An emulated process address space, Linux's mm_struct: a PROT_NONE reservation of real
// virtual space, the VMAs inside it, a four-level page table and the hardware view.
// Applications use it through mmap() and friends exactly as they would use the syscalls, and
// then touch the memory directly; faults come back through handle_mm_fault().
// Invariants: every VMA lies inside the reservation; every present PTE lies inside a VMA;
// the hardware view is never more permissive than the PTEs.
// Locking: see the lock order above. Public calls take the locks themselves.
class AddressSpace {
public:
    ~AddressSpace();
    AddressSpace(const AddressSpace&) = delete;
    AddressSpace& operator=(const AddressSpace&) = delete;

    // mmap(2) for anonymous private memory. hint is used when free (or required with
    // MAP_FIXED/MAP_FIXED_NOREPLACE). Errors as Linux's, checked in its order: EINVAL (zero
    // length, no or a bad map type, misaligned MAP_FIXED address or offset), ENOMEM (no room,
    // too many VMAs, range outside the reservation), EEXIST (MAP_FIXED_NOREPLACE over a
    // mapping), EBADF and ENODEV (file mappings), EACCES (a file opened without the access
    // asked), EOVERFLOW (offset plus length past the largest file), EPERM and EAGAIN
    // (MAP_LOCKED without the right or over RLIMIT_MEMLOCK), EOPNOTSUPP (a file mapping under
    // the userfaultfd source). Where vmemu is stricter than Linux: bits
    // Linux does not define, in flags or prot, are EINVAL; MAP_GROWSDOWN, MAP_HUGETLB and
    // MAP_32BIT, and shared anonymous memory, are EOPNOTSUPP.
    VmResult<VirtAddr> mmap(VirtAddr hint, std::size_t length, int prot, int flags, int fd = -1, off_t offset = 0)
        VM_EXCLUDES(m_mmap_lock);
    // munmap(2): EINVAL for a misaligned address, zero length or a range outside the reservation.
    VmResult<void> munmap(VirtAddr address, std::size_t length) VM_EXCLUDES(m_mmap_lock);
    // mprotect(2): EINVAL (misaligned, unknown bits), ENOMEM (a hole in the range: the VMAs before
    // it change, as in Linux).
    VmResult<void> mprotect(VirtAddr address, std::size_t length, int prot) VM_EXCLUDES(m_mmap_lock);
    // madvise(2) with MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED (swap-in, or a
    // file's read into the page cache, ahead and without waiting), MADV_DONTNEED, MADV_FREE (as MADV_DONTNEED), MADV_COLD (to the inactive
    // list) and MADV_PAGEOUT (swapped out now); the advice about huge pages, KSM, core dumps
    // and fork is accepted and changes nothing. EINVAL for DONTNEED, FREE, COLD and PAGEOUT on
    // locked memory. EINVAL (misaligned, overflowing, unknown advice), ENOMEM
    // (a hole in the range: the mapped parts still take the advice, as in Linux).
    VmResult<void> madvise(VirtAddr address, std::size_t length, int advice) VM_EXCLUDES(m_mmap_lock);
    // msync(2): MS_SYNC writes the dirty pages of the shared file mappings in the range back
    // and waits for them, then reports a writeback error of those files that this mapping has
    // not seen yet (EIO, ENOSPC...); MS_ASYNC starts the writeback; MS_INVALIDATE is accepted.
    // EINVAL (misaligned, unknown flags, MS_SYNC with MS_ASYNC), EBUSY (MS_INVALIDATE on
    // locked memory), ENOMEM (a hole in the range: the mapped parts are synced, as in Linux).
    VmResult<void> msync(VirtAddr address, std::size_t length, int flags) VM_EXCLUDES(m_mmap_lock);
    // mremap(2) with MREMAP_MAYMOVE, MREMAP_FIXED and MREMAP_DONTUNMAP: EINVAL, EFAULT, ENOMEM as
    // Linux, and EAGAIN for a locked mapping that would grow past RLIMIT_MEMLOCK.
    VmResult<VirtAddr> mremap(VirtAddr old_address, std::size_t old_length, std::size_t new_length, int flags,
        VirtAddr new_address = VirtAddr()) VM_EXCLUDES(m_mmap_lock);

    // fork of the address space (dup_mmap()): a new address space, with a reservation of its
    // own of the same size, holding the same VMAs at the same offsets and sharing every
    // anonymous page copy-on-write, swapped-out ones included. The child is independent from
    // then on: writes on either side are private to it. Pinned pages are copied at once, and
    // mlock is not inherited, as in Linux. ENOMEM over the commit limit, without frames for the
    // child's page tables or for pinned pages, or when a swap slot is shared too often; and what
    // create_address_space() returns. On the userfaultfd view the parent's anonymous VMAs map
    // frames from then on, as file mappings do there (view_for()).
    VmResult<std::unique_ptr<AddressSpace>> fork() VM_EXCLUDES(m_mmap_lock);

    // mlock(2) and munlock(2): the range (widened to whole pages) is faulted in, its pages go to
    // the unevictable list and never to swap, and later faults in it are locked too.
    // ENOMEM (a hole, or over RLIMIT_MEMLOCK without CAP_IPC_LOCK), EPERM (RLIMIT_MEMLOCK is 0
    // without CAP_IPC_LOCK), EINVAL (overflow), EAGAIN (more than the frames can hold: the range
    // stays locked, faulted in as far as it could be, as Linux's mlock() in a memory cgroup).
    VmResult<void> mlock(VirtAddr address, std::size_t length) VM_EXCLUDES(m_mmap_lock);
    VmResult<void> munlock(VirtAddr address, std::size_t length) VM_EXCLUDES(m_mmap_lock);

    // mincore(2): vec[i] is 1 when page i of the range is in memory (mapped to a frame, or
    // swapped out with its copy still in the swap cache), else 0. EINVAL for a misaligned
    // address, ENOMEM for a range with unmapped pages, EFAULT for a null vec. vec may be
    // emulated memory.
    VmResult<void> mincore(VirtAddr address, std::size_t length, unsigned char* vec) const VM_EXCLUDES(m_mmap_lock);

    // pin_user_pages(): faults in the pages of [start, start + length) (writable ones when
    // write) and pins them, each with a reference, into pages (room for
    // pages_between(page_base(start), page_round_up(start + length)) entries). While pinned a
    // page stays resident and mapped in the kernel's view, so that a system call given the
    // range does not fail with EFAULT under the SIGSEGV fault source. Returns how many pages it
    // pinned: fewer than asked when a page cannot be faulted in (the fault's error).
    // unpin_user_pages() drops the pins and references.
    std::size_t pin_user_pages(VirtAddr start, std::size_t length, bool write, PageFrame** pages)
        VM_EXCLUDES(m_mmap_lock);
    void unpin_user_pages(PageFrame** pages, std::size_t count);

    // The fault entry point of every fault source. Async-signal-safe: no allocation, no
    // exception, no logging. Takes m_mmap_lock shared and m_page_table_lock.
    FaultResult handle_mm_fault(VirtAddr address, FaultAccess access) noexcept VM_EXCLUDES(m_mmap_lock);

    VirtAddr reservation_start() const { return m_reservation_start; }
    VirtAddr reservation_end() const { return m_reservation_end; }
    bool in_reservation(VirtAddr address) const
    {
        return address >= m_reservation_start && address < m_reservation_end;
    }
    // True if [start, start + bytes) lies inside the reservation (bytes > 0).
    bool in_reservation_range(VirtAddr start, std::size_t bytes) const
    {
        return start >= m_reservation_start && bytes <= m_reservation_end - m_reservation_start
            && start.get() <= m_reservation_end.get() - bytes;
    }
    std::size_t vma_count() const VM_EXCLUDES(m_mmap_lock);
    // Resident pages (present PTEs, zero page excluded), as the RSS in /proc/PID/status.
    std::size_t rss_pages() const VM_EXCLUDES(m_mmap_lock);

    // /proc/PID/maps and /proc/PID/smaps of this address space.
    std::string maps() const VM_EXCLUDES(m_mmap_lock);
    std::string smaps() const VM_EXCLUDES(m_mmap_lock);
    // The page-table walk of address, level by level, with the VMA it falls in and the page
    // its PTE maps (dump_page()'s format), or why there is none.
    std::string page_walk(VirtAddr address) const VM_EXCLUDES(m_mmap_lock);
    // The same walk as data.
    PageWalk walk_page(VirtAddr address) const VM_EXCLUDES(m_mmap_lock);

    // Checks the VMA tree, the page table, and that every present PTE lies inside a VMA.
    void verify_invariants() const VM_EXCLUDES(m_mmap_lock);

    // rmap.cpp: the reverse map's side, for reclaim. Reclaim finds the places that map a
    // page through its anon_vma (mm/anon_vma.hpp) and asks each address space about its own;
    // every answer is checked against the PTE under the page_table_lock. The caller holds
    // the Machine's spaces lock shared, which keeps this address space alive, and none of
    // its locks.
    enum class UnmapResult : std::uint8_t { Unmapped, NotMapped, Failed };
    struct ReferencedTarget {
        PageFrame* page;
        std::uint64_t vpn;
    };
    // folio_referenced() for a batch of (page, address) pairs here: referenced[i] says whether
    // the PTE at targets[i] maps its page and was accessed since the last look. The bits are
    // cleared and the pages leave the hardware view, so that the next touch sets them again;
    // the kernel is told in one system call per run of neighbouring pages, as Linux batches
    // the TLB flushes of reclaim.
    static constexpr std::size_t kMaxReferencedBatch = 128;
    void page_referenced_batch(const ReferencedTarget* targets, std::size_t count, bool* referenced)
        VM_EXCLUDES(m_page_table_lock);
    // try_to_unmap_one(): replaces the PTE at vpn, if it maps page, with the swap entry of the
    // page's swap-cache slot (and the workingset shadow), and drops the mapping's reference,
    // which is never the last (the caller holds the page). Failed if the page left the swap
    // cache meanwhile (a write), is pinned, or the kernel keeps it mapped.
    UnmapResult try_to_unmap_one(PageFrame& page, std::uint64_t vpn, std::uint64_t shadow)
        VM_EXCLUDES(m_page_table_lock);
    // The same for a page-cache page: the PTE at vpn, if it maps page, becomes empty (the
    // next touch finds the page in the cache, or reads it again).
    UnmapResult try_to_unmap_file_one(PageFrame& page, std::uint64_t vpn) VM_EXCLUDES(m_page_table_lock);
    // Undoes try_to_unmap_one() (after a failed swap write, or when another mapping of the page
    // could not be unmapped): if the PTE at vpn still holds entry, it maps the page again
    // (dirty, write-protected, out of the hardware view). The page stays in the swap cache;
    // the caller takes it out. Returns whether it did.
    bool restore_swap_pte(PageFrame& page, SwapEntry entry, std::uint64_t vpn) VM_EXCLUDES(m_page_table_lock);

    // The file side of the reverse map (Writeback, truncation): the callers hold the Machine's
    // spaces lock shared and the file's i_mmap lock shared, and none of this space's locks.
    // page_mkclean_one(): the PTE at vpn, if it maps page, loses its write and dirty bits and
    // the kernel's writable view. False if it did not map the page writable, or dirty.
    enum class MkcleanResult : std::uint8_t { Clean, Cleaned, Failed };
    MkcleanResult page_mkclean_one(PageFrame& page, std::uint64_t vpn) VM_EXCLUDES(m_page_table_lock);
    // unmap_mapping_range() for [first_vpn, last_vpn] here: every page there leaves its PTE,
    // private copies included (truncation).
    void unmap_mapping_range(std::uint64_t first_vpn, std::uint64_t last_vpn) VM_EXCLUDES(m_page_table_lock);

    Machine& machine() const { return m_machine; }

    // The userfaultfd fault source gives the address space its userfaultfd view, with the
    // file descriptor and pool (UserfaultView), before any fault; private anonymous VMAs go
    // through it from then on.
    void use_userfault(os::Userfaultfd& uffd, VirtAddr pool);
    VirtAddr userfault_pool() const { return m_userfault_view ? m_userfault_view->pool() : VirtAddr(); }

    // Whether the fork() of the process under way leaves the reservation to the child
    // (MADV_DOFORK): only in a fork the Machine prepares, and only where the private view
    // survives fork (HwCapabilities). Otherwise the child does not inherit it (MADV_DONTFORK).
    bool inherited_by_fork() const { return m_inherited_by_fork.load(std::memory_order_acquire); }

    // folio_lock(): takes PG_locked of page, waiting for it (never with the page_table_lock
    // held). Also for the page cache's writers (fs/read_write.cpp).
    static void lock_page(PageFrame& page);

private:
    friend class Machine;
    AddressSpace(Machine& machine, VirtAddr start, VirtAddr end, PageTable page_table);


    PageWalk walk_page_locked(VirtAddr address) const VM_REQUIRES_SHARED(m_mmap_lock) VM_REQUIRES(m_page_table_lock);
    VmResult<VirtAddr> get_unmapped_area_locked(VirtAddr hint, std::size_t length) const VM_REQUIRES(m_mmap_lock);
    VmResult<void> do_munmap_locked(VirtAddr start, VirtAddr end) VM_REQUIRES(m_mmap_lock);
    // Splits VMAs so that none straddles start or end. ENOMEM when over max_map_count.
    VmResult<void> split_at_locked(VirtAddr start, VirtAddr end) VM_REQUIRES(m_mmap_lock);
    bool range_fully_mapped_locked(VirtAddr start, VirtAddr end) const VM_REQUIRES_SHARED(m_mmap_lock);
    // The end of the mapped run that begins at start (start itself when start is unmapped,
    // at most end): where mprotect(), mlock() and munlock() stop at a hole, as Linux's do.
    VirtAddr mapped_prefix_end_locked(VirtAddr start, VirtAddr end) const VM_REQUIRES_SHARED(m_mmap_lock);
    // mlock_future_ok(): whether pages more may be locked under RLIMIT_MEMLOCK.
    bool mlock_future_ok_locked(std::size_t pages) const VM_REQUIRES_SHARED(m_mmap_lock);
    void merge_range_locked(VirtAddr start, VirtAddr end) VM_REQUIRES(m_mmap_lock);
    struct VmaRange {
        VirtAddr start;
        VirtAddr end;
    };
    // mprotect.cpp: the new protection of the mapped range [start, end), and the ranges that
    // mprotect() then populates with write faults (private locked VMAs that become writable).
    // EACCES, and ENOMEM past max_map_count, change nothing.
    VmResult<void> mprotect_fixup_locked(VirtAddr start, VirtAddr end, std::uint32_t access,
        std::vector<VmaRange>& to_populate) VM_REQUIRES(m_mmap_lock);
    // mm_populate(): faults [start, end) in; with no access given, writes where the VMA is
    // writable and reads elsewhere. Stops at the first fault that fails, or at a PROT_NONE VMA
    // (which __mm_populate() refuses, -EFAULT), and returns where it stopped: end when it did not.
    // *failure, when given, says what the failed fault returned (Handled for a PROT_NONE VMA).
    VirtAddr populate(VirtAddr start, VirtAddr end, std::optional<FaultAccess> access,
        FaultResult* failure = nullptr) VM_EXCLUDES(m_mmap_lock);
    // mremap.cpp. vma_to_resize(): whether [old, old + old_size), which starts in vma, may
    // become new_size long: EFAULT (it leaves vma), EINVAL (old_size 0 duplicates a mapping,
    // which only a shared one may), EAGAIN (a locked VMA past RLIMIT_MEMLOCK).
    VmResult<void> vma_to_resize_locked(const Vma& vma, VirtAddr old_address, std::size_t old_size,
        std::size_t new_size) const VM_REQUIRES_SHARED(m_mmap_lock);
    // move_vma(): moves the PTEs of [old, old + old_size) to a new VMA at new_address; with
    // keep_old, the old range stays mapped and empty (MREMAP_DONTUNMAP); with old_size 0, the
    // new VMA maps the same pages of the file as the old one, which stays. ENOMEM changes
    // nothing.
    VmResult<void> move_vma_locked(VirtAddr old_address, std::size_t old_size, VirtAddr new_address,
        std::size_t new_size, bool keep_old) VM_REQUIRES(m_mmap_lock);
    // mremap(MREMAP_DONTUNMAP) of a locked VMA: [start, end) was that VMA before the move.
    void unlock_after_dontunmap_locked(VirtAddr start, VirtAddr end, const Vma& moved) VM_REQUIRES(m_mmap_lock);

    // fork.cpp: the VMAs and PTEs of this address space into child, shared copy-on-write.
    VmResult<void> dup_mmap_locked(AddressSpace& child) VM_REQUIRES(m_mmap_lock, child.m_mmap_lock);

    // memory.cpp: the fault handlers and PTE teardown. dispatch_fault() is handle_mm_fault()
    // without its tracepoints; it says which kind of fault it took in type.
    FaultResult dispatch_fault(VirtAddr address, FaultAccess access, trace::FaultType& type) noexcept
        VM_EXCLUDES(m_mmap_lock);
    FaultResult do_anonymous_page(Vma& vma, VirtAddr address) VM_REQUIRES_SHARED(m_mmap_lock);
    FaultResult do_zero_page(Vma& vma, VirtAddr address) VM_REQUIRES_SHARED(m_mmap_lock);
    FaultResult do_wp_page(Vma& vma, VirtAddr address, Pte seen) VM_REQUIRES_SHARED(m_mmap_lock);
    // Whether the write fault on a write-protected anonymous page may make page writable in
    // place (it is this PTE's alone); takes it out of the swap cache if so.
    bool can_reuse_anon_page_locked(PageFrame& page) VM_REQUIRES(m_page_table_lock);
    FaultResult sync_hardware_view(Vma& vma, VirtAddr address, PageTable::Entry& slot)
        VM_REQUIRES_SHARED(m_mmap_lock);
    // rmap.cpp: the PTE at vpn, if it maps page.
    PageTable::Entry* pte_mapping_page_locked(const PageFrame& page, std::uint64_t vpn) const
        VM_REQUIRES(m_page_table_lock);
    // file_fault.cpp: faults in file mappings (the page comes from the page cache).
    FaultResult do_fault(Vma& vma, VirtAddr address, FaultAccess access) VM_REQUIRES_SHARED(m_mmap_lock);
    FaultResult do_cow_fault(Vma& vma, VirtAddr address, PageFrame& page) VM_REQUIRES_SHARED(m_mmap_lock);
    FaultResult wp_page_shared(Vma& vma, VirtAddr address, Pte seen) VM_REQUIRES_SHARED(m_mmap_lock);
    // Maps faulting (whose reference it takes) at address, read-only, with its cached,
    // uptodate neighbours (filemap_map_pages(), up to 16 pages). The result is the faulting
    // page's.
    FaultResult filemap_map_pages_locked(Vma& vma, VirtAddr address, PageFrame& faulting)
        VM_REQUIRES(m_page_table_lock) VM_REQUIRES_SHARED(m_mmap_lock);
    // msync.cpp: the writeback of the shared file pages of [start, end), and the error check.
    VmResult<void> msync_range_locked(VirtAddr start, VirtAddr end, int flags) VM_REQUIRES_SHARED(m_mmap_lock);
    // swap_fault.cpp
    FaultResult do_swap_page(Vma& vma, VirtAddr address, Pte seen, FaultAccess access)
        VM_REQUIRES_SHARED(m_mmap_lock);
    // The faulting page is in frame pfn; readahead puts the next pages in the frames after it.
    void swap_vma_readahead(Vma& vma, VirtAddr address, Pfn pfn) VM_REQUIRES_SHARED(m_mmap_lock);
    // The pages after address that readahead brought into the frames after pfn and that can
    // map with it: each with a reference, in around, and its swap PTE in seen. Returns how many.
    std::size_t swap_fault_around_locked(Vma& vma, VirtAddr address, Pfn pfn, PageTable::Entry* slot,
        PageFrame** around, Pte* seen) VM_REQUIRES(m_page_table_lock) VM_REQUIRES_SHARED(m_mmap_lock);
    // A swap-cache page just installed at address, where the PTE was seen: the mapping takes
    // the caller's reference, the slot loses the PTE's count.
    void map_swap_page_locked(Vma& vma, PageFrame& page, VirtAddr address, Pte seen, bool keep_cached)
        VM_REQUIRES(m_page_table_lock) VM_REQUIRES_SHARED(m_mmap_lock);
    // folio_add_new_anon_rmap(): gives new anonymous frames their one mapping (counted in
    // AnonPages) and puts them on the LRU.
    void add_new_anon_pages_locked(const Vma& vma, Pfn first, std::size_t count, VirtAddr address)
        VM_REQUIRES(m_page_table_lock);
    // madvise.cpp: MADV_WILLNEED (swap-in ahead), MADV_COLD and MADV_PAGEOUT on [start, end).
    void swapin_range_locked(VirtAddr start, VirtAddr end) VM_REQUIRES(m_mmap_lock);
    void deactivate_range_locked(VirtAddr start, VirtAddr end) VM_REQUIRES(m_mmap_lock);
    void pageout_range_locked(VirtAddr start, VirtAddr end) VM_REQUIRES(m_mmap_lock);
    // mlock.cpp: moves the present pages of [start, end) to or from the unevictable list.
    void set_pages_locked_locked(VirtAddr start, VirtAddr end, bool locked) VM_REQUIRES(m_mmap_lock);
    VmResult<void> apply_vm_flag_locked(VirtAddr start, VirtAddr end, std::uint32_t flag, bool set)
        VM_REQUIRES(m_mmap_lock);
    // Commit accounting of a VMA's pages (VM_ACCOUNT): false, charging nothing, over the limit.
    bool charge(std::uint32_t vm_flags, std::size_t pages);
    void uncharge(std::uint32_t vm_flags, std::size_t pages);
    std::size_t fault_around_pages(Vma& vma, VirtAddr address) const;
    // The frame that would continue a virtual neighbour's frame run for count pages at address.
    std::optional<Pfn> neighbour_hint(VirtAddr address, std::size_t count) const;
    // Installs PTEs for count pages at start mapping frames from first, and the hardware view.
    FaultResult install_locked(Vma& vma, VirtAddr start, Pfn first, std::size_t count, std::uint64_t pte_bits)
        VM_REQUIRES(m_page_table_lock);
    // New anonymous pages in a view that fills zeros: marks the empty PTEs from address on, up
    // to count, pending (Pte::kPending) and returns how many; then maps frames from first, not
    // zeroed, at those pages, the view filling zeros without the page_table_lock, and puts them
    // on the LRU (or clears the pending PTEs again on failure).
    std::size_t reserve_empty_slots(VirtAddr address, std::size_t count) VM_EXCLUDES(m_page_table_lock);
    FaultResult install_zero_filled_pages(Vma& vma, VirtAddr address, Pfn first, std::size_t count)
        VM_EXCLUDES(m_page_table_lock);
    void store_installed_ptes_locked(VirtAddr start, Pfn first, std::size_t count, std::uint64_t pte_bits,
        std::uint64_t hw) VM_REQUIRES(m_page_table_lock);
    // hardware_view.cpp: the views. The private view serves private anonymous VMAs: the
    // userfaultfd view where the fault source gave one, the memfd view otherwise; VMAs whose
    // frames may be mapped in several places (files, VMAs that took part in AddressSpace::fork,
    // VmFlags::HwShared) need a view that shares frames, the memfd view where the private one
    // does not.
    HardwareView& private_view()
    {
        if (m_userfault_view)
            return *m_userfault_view;
        return m_memfd_view;
    }
    const HardwareView& private_view() const
    {
        if (m_userfault_view)
            return *m_userfault_view;
        return m_memfd_view;
    }
    HardwareView& view_for(const Vma& vma);
    // The view that holds the mapped page of pte.
    const HardwareView& view_of(Pte pte) const;
    // The frame held back for a zero page that another thread writes while it is mapped
    // (HwCapabilities::racy_zero_page): made sure of before the page_table_lock is taken; false
    // when no frame can be had. adopt_written_zero_page_locked() takes it, and gives the page
    // at address it as an anonymous page of its own, write-protected and dirty.
    bool reserve_zero_page_frame();
    FaultResult adopt_written_zero_page_locked(Vma& vma, VirtAddr address) VM_REQUIRES(m_page_table_lock);
    // The PTE bits of a page that view maps in vma: read-only when vma is; writable and dirty
    // when vma is writable and the view cannot write-protect the page.
    static std::uint64_t view_pte_bits(const Vma& vma, const HardwareView& view, std::uint64_t pte_bits);
    // Before a fork: the VMAs whose view cannot share frames take their pages back to their
    // frames and become VmFlags::HwShared.
    VmResult<void> share_private_vmas_locked() VM_REQUIRES(m_mmap_lock);
    // The kernel's protections (and registrations) of the reservation follow the VMAs of
    // [start, end), where the private view follows VMAs.
    void sync_kernel_protection_locked(VirtAddr start, VirtAddr end) VM_REQUIRES(m_mmap_lock);
    // Clears the PTEs of [start, end), frees their frames, and drops the hardware view.
    // Fails, changing nothing, only if the kernel refuses to drop the hardware view.
    VmResult<void> zap_page_range_locked(VirtAddr start, VirtAddr end) VM_REQUIRES(m_mmap_lock);
    // Whether every page mapped in the hardware view in [start, end) is a private anonymous
    // page that this PTE alone holds, in a view that holds its bytes, so that zapping the PTE
    // frees it and its bytes may go.
    bool only_dying_pages_locked(VirtAddr start, VirtAddr end) const VM_REQUIRES(m_page_table_lock);
    // zap_page_range_locked() under the page_table_lock alone (the page tables of the range
    // stay, as they are freed only under it too).
    VmResult<void> zap_ptes_locked(VirtAddr start, VirtAddr end) VM_REQUIRES(m_page_table_lock);
    // Drops the hardware view of [start, end) without touching the frames the PTEs hold.
    VmResult<void> unmap_hardware_range_locked(VirtAddr start, VirtAddr end) VM_REQUIRES(m_page_table_lock);

    // process_fork.cpp: this address space's part in fork(2) of the process. In the parent:
    // takes every page that is not pinned out of the hardware view, so that the program's
    // other threads fault, and wait, until the child has its copy; the pages of a view that
    // survives fork stay, and the child inherits them with the reservation. In the child: the
    // reservation again, with no page in the hardware view but those inherited (the budget is
    // the Machine's).
    // (In a view that holds the bytes, pinned pages go too: their bytes must reach their frames,
    // and the kernel's accesses to them wait instead of failing.)
    void prepare_fork_locked() VM_REQUIRES(m_page_table_lock);
    void drop_hardware_view_locked() VM_REQUIRES(m_page_table_lock);
    VmResult<void> adopt_in_child() VM_REQUIRES(m_mmap_lock) VM_REQUIRES(m_page_table_lock);
    void end_fork() { m_inherited_by_fork.store(false, std::memory_order_release); }

    // The hardware protection for a page of vma mapped (not) writable.
    static os::HwProt hw_prot(const Vma& vma, bool writable);
    // The PTE's hardware bits for a page of vma that its view maps with or without write access.
    std::uint64_t hw_bits_for(const Vma& vma, bool writable)
    {
        return view_for(vma).pte_bits(hw_prot(vma, writable));
    }

    Machine& m_machine;
    VirtAddr m_reservation_start;
    VirtAddr m_reservation_end;
    mutable RwSemaphore m_mmap_lock;
    mutable Mutex m_page_table_lock VM_ACQUIRED_AFTER(m_mmap_lock);
    VmaTree m_vmas VM_GUARDED_BY(m_mmap_lock);
    PageTable m_page_table;
    // The hardware views, under m_page_table_lock (mm/hardware_view.hpp).
    MemfdView m_memfd_view;
    std::optional<UserfaultView> m_userfault_view;
    // The frame reserve_zero_page_frame() holds back: its number plus one, or 0.
    std::atomic<std::uint64_t> m_zero_page_frame { 0 };
    std::atomic<bool> m_inherited_by_fork { false };
};

} // namespace vmemu
