#pragma once
#include <csignal>
#include <cstddef>
#include <memory>
#include <string>
#include <vmemu/address_space.hpp>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/mm/kernel_map_budget.hpp>
#include <vmemu/fault/userfault_fault_source.hpp>
#include <vmemu/fs/file_io.hpp>
#include <vmemu/fs/inode_cache.hpp>
#include <vmemu/fs/writeback.hpp>
#include <vmemu/phys/frame_arena.hpp>
#include <optional>
#include <vmemu/phys/page_allocator.hpp>
#include <vmemu/reclaim/kswapd.hpp>
#include <vmemu/reclaim/lruvec.hpp>
#include <vmemu/reclaim/swap_state.hpp>
#include <vmemu/reclaim/vmscan.hpp>
#include <vmemu/reclaim/workingset.hpp>
#include <vmemu/stats/stats_segment.hpp>
#include <vmemu/stats/vm_stat.hpp>
#include <vmemu/swap/swap_device.hpp>
#include <vmemu/sync/rw_semaphore.hpp>
#include <vmemu/trace/trace_sampler.hpp>

namespace vmemu {

// What happens when frames and swap are both used up (the OOM policy).
enum class OomPolicy : std::uint8_t {
    // The faulting program dies, with a report in the spirit of the kernel's OOM killer.
    Kill,
    // Strict commit accounting, as vm.overcommit_memory=2: an mmap that would commit more
    // than frames plus swap fails with ENOMEM, so that faults never run out.
    FailMappings,
};

// Which fault source resolves the faults of the Machine's address spaces.
enum class FaultSourceKind : std::uint8_t {
    // VMEMU_BACKEND from the environment, when it is set to "signal" or "uffd" (what `vmemu run
    // --backend` sets for the program); otherwise Userfault where the kernel has it (Linux 6.8
    // and later, userfaultfd not refused by a seccomp policy), and Signal where it has not.
    Auto,
    // A SIGSEGV handler, and one kernel mapping of the arena's memfd per run of frames; the
    // kernel's own accesses to unmapped pages fail with EFAULT.
    Signal,
    // userfaultfd (Linux 6.8 and later) in SIGBUS mode: a missing page is a SIGBUS resolved in
    // the faulting thread, the kernel's mappings follow the emulated VMAs only, and protection
    // faults stay with the SIGSEGV handler. The kernel's own accesses fail with EFAULT.
    Userfault,
    // userfaultfd read by a handler thread of vmemu's: two wake-ups a fault, but where the
    // process may catch kernel-mode faults (as root) the kernel's own accesses wait for vmemu.
    UserfaultThread,
};

struct MachineConfig {
    // Physical frames of 4 KiB. At least kMinFrames.
    std::size_t frames { 8192 };
    // Real kernel mappings all of this Machine's address spaces may use; 0 means
    // vm.max_map_count less the mappings the process has now, less a margin of 1024.
    std::size_t max_kernel_mappings { 0 };
    // VMAs per address space, as vm.max_map_count limits them in Linux.
    std::size_t max_vmas { 65530 };
    // The swap device; none when empty.
    std::optional<SwapDeviceConfig> swap;
    OomPolicy oom_policy { OomPolicy::Kill };
    // Run kswapd (background reclaim between the low and high watermarks).
    bool kswapd { true };
    FaultSourceKind fault_source { FaultSourceKind::Auto };
};

// A machine: the physical memory (frame arena, buddy allocator, zero frames), the counters,
// and the address spaces that run on it. Address spaces must die before their Machine.
// Locking: the parts lock themselves; the Machine adds none.
class Machine {
public:
    static constexpr std::size_t kMinFrames = 256;
    static constexpr std::size_t kDefaultReservation = std::size_t { 64 } << 30;

    // EINVAL for a frame count below kMinFrames or out of range, or for a VMEMU_BACKEND that
    // names no fault source; ENOMEM for more frames than the machine's memory and swap hold;
    // errors of memfd_create and mmap, and of userfaultfd for its fault sources. config() has
    // the fault source that Auto chose.
    static VmResult<std::unique_ptr<Machine>> create(const MachineConfig& config);
    ~Machine();
    Machine(const Machine&) = delete;
    Machine& operator=(const Machine&) = delete;

    // A new address space with a PROT_NONE reservation of reservation_bytes (page multiple,
    // at least 2 MiB), attached to the SIGSEGV fault source.
    VmResult<std::unique_ptr<AddressSpace>> create_address_space(std::size_t reservation_bytes = kDefaultReservation);

    // /proc/meminfo, /proc/vmstat, /proc/buddyinfo, /proc/zoneinfo and /proc/swaps of this machine.
    std::string meminfo() const;
    std::string vmstat() const;
    std::string buddyinfo() const;
    std::string zoneinfo() const;
    std::string swaps() const;

    // Samples the machine into the trace every interval while events are recorded
    // (trace_sampler.hpp), until stop_trace_sampling(), which takes the last sample. EINVAL for
    // an interval of 0 or above a minute, EBUSY when it or another machine of the process samples
    // already.
    VmResult<void> start_trace_sampling(std::chrono::milliseconds interval = std::chrono::milliseconds { 10 });
    void stop_trace_sampling();

    // Publishes the machine's counters for `vmemu top` every interval (stats_segment.hpp),
    // until the machine goes. EBUSY when it publishes already; EEXIST when another machine of
    // the process does.
    VmResult<void> publish_stats(std::chrono::milliseconds interval = std::chrono::milliseconds { 500 });
    void stop_publishing_stats() { m_publisher.reset(); }

    // Reclaims until nr_pages frames are free or nothing more can be reclaimed (what tests and
    // the reclaim examples use to force reclaim). Returns the frames freed or in writeback.
    std::size_t reclaim(std::size_t nr_pages);
    // Waits until no swap I/O is in flight.
    void wait_for_swap_io() const;

    std::size_t frame_count() const { return m_arena->frame_count(); }
    std::size_t free_frames() const { return m_allocator.buddy().nr_free(); }
    const VmStat& stat() const { return m_stat; }
    VmStat& stat() { return m_stat; }
    FrameArena& arena() { return *m_arena; }
    PageAllocator& page_allocator() { return m_allocator; }
    const PageAllocator& page_allocator() const { return m_allocator; }
    KernelMapBudget& kernel_map_budget() { return m_budget; }
    const MachineConfig& config() const { return m_config; }
    Lruvec& lruvec() { return m_lruvec; }
    const Lruvec& lruvec() const { return m_lruvec; }
    const Workingset& workingset() const { return m_workingset; }
    Vmscan& vmscan() { return m_vmscan; }
    // The swap side, or nullptr without swap.
    SwapState* swap() { return m_swap.get(); }
    const SwapState* swap() const { return m_swap.get(); }
    // nullptr when kswapd is off.
    Kswapd* kswapd() { return m_kswapd.get(); }
    // nullptr with the SIGSEGV fault source.
    UserfaultFaultSource* userfault() { return m_userfault.get(); }

    // Files (fs/): the inodes of mapped files, their I/O and their writeback. The I/O and the
    // flusher start with the first file mapping (enable_files()).
    InodeCache& inodes() { return m_inodes; }
    Writeback& writeback() { return m_writeback; }
    FileIo& file_io() { return *m_file_io; }
    // File reads and writes in flight; 0 before the first file mapping. Any thread may ask.
    std::uint32_t file_io_in_flight() const
    {
        FileIo* io = m_file_io_published.load(std::memory_order_acquire);
        return io ? io->in_flight() : 0;
    }
    // Work on file pages outside an mmap_lock (the flusher's passes, write(2) through the
    // cache, write-and-wait, truncation) holds this shared; fork(2) holds it exclusively and
    // then waits for the file I/O in flight, so that no page lock or page reference of theirs
    // is copied into the child.
    RwSemaphore& file_work_lock() VM_RETURN_CAPABILITY(m_file_work_lock) { return m_file_work_lock; }
    VmResult<void> enable_files() VM_EXCLUDES(m_files_lock);
    // ftruncate(2) of a file, with what Linux's truncate does to its mappings
    // (truncate_pagecache()): the pages past the new end leave every mapping and the cache,
    // the tail of a partial last page is zeroed, and a later touch past the end is SIGBUS.
    // The errors of ftruncate(2).
    VmResult<void> truncate(int fd, off_t length);

    // put_page(): drops a reference; the last one takes the page off its LRU list and frees it.
    void put_page(PageFrame& page);
    // Frees a page whose references are all gone.
    void release_page(PageFrame& page);

    // The reverse map's guard: reclaim holds it shared while it walks the address spaces found
    // through a page's anon_vma; an address space leaves the registry under it, exclusive,
    // before it dies.
    RwSemaphore& spaces_lock() const { return m_spaces_lock; }
    AnonVmaCache& anon_vmas() { return m_anon_vmas; }
    // page_add_anon_rmap() and page_remove_rmap(): one PTE more or one fewer maps page (an
    // anonymous page; the caller holds that PTE's page_table_lock). AnonPages counts the pages
    // mapped at least once, as Linux's NR_ANON_MAPPED.
    // page_add_file_rmap() is the same for a page-cache page (Mapped counts those).
    void page_add_anon_rmap(PageFrame& page);
    void page_add_file_rmap(PageFrame& page);
    void page_remove_rmap(PageFrame& page);

    // Pages committed by mappings that reserve memory (all but MAP_NORESERVE), for the
    // FailMappings policy: false, committing nothing, when pages would not fit.
    bool commit(std::size_t pages);
    void uncommit(std::size_t pages);

    // The fault source's report and death when a fault finds no memory at all.
    [[noreturn]] void out_of_memory(std::uintptr_t address) const;

    // fork(2) of the process this machine runs in (not of an address space), as three
    // pthread_atfork() handlers: prepare_fork() in the parent before fork(), then fork_parent()
    // in the parent or fork_child() in the child. The child gets a machine of its own with an
    // exact private copy of the emulated memory: its own frames (a new memfd holding a copy of
    // the frames in use that hold bytes), its own private swap file (a copy of the slots in
    // use, in the directory of the parent's), and its own kswapd and completion threads. Where
    // the private view survives fork (the userfaultfd view), the pages it maps are the
    // kernel's own fork's: the child inherits them copy-on-write with the reservation, and
    // nothing is copied for them.
    // The parent stands still meanwhile: prepare_fork() takes every lock of the machine and
    // pauses reclaim, and, when the program has other threads, takes the pages out of the
    // hardware view so that those threads wait in their faults; fork_parent() returns when the
    // child has its copy, or has died. No address space may be created or destroyed during the
    // fork. If fork_child() fails, the child's emulated memory stays the parent's, and a touch
    // of it is SIGSEGV: the child may still exec or exit, but must leak the machine.
    void prepare_fork();
    void fork_parent();
    VmResult<void> fork_child();

    // Checks the buddy allocator, the LRU and the swap slots, after pausing kswapd and waiting
    // for swap I/O. The program's threads must not be faulting meanwhile.
    void verify_invariants() const;

private:
    friend class AddressSpace;
    Machine(const MachineConfig& config, std::unique_ptr<FrameArena> arena, std::size_t kernel_mappings);
    void register_space(AddressSpace& space);
    void unregister_space(AddressSpace& space);
    static void wake_kswapd_hook(void* context);
    // process_fork.cpp
    void lock_for_fork();
    void unlock_after_fork();
    // Each address space's fork is over (AddressSpace::inherited_by_fork()).
    void end_fork();
    // truncate.cpp: zeroes bytes [from, to) of the page at index of inode, when it is cached.
    void zero_cached_segment(Inode& inode, std::uint64_t index, std::size_t from, std::size_t to);
    VmResult<void> copy_for_child();
    VmResult<void> adopt_files_in_child();
    static bool direct_reclaim_hook(void* context, std::size_t pages);

    MachineConfig m_config;
    std::unique_ptr<FrameArena> m_arena;
    VmStat m_stat;
    PageAllocator m_allocator;
    KernelMapBudget m_budget;
    Lruvec m_lruvec;
    Workingset m_workingset;
    Vmscan m_vmscan;
    std::unique_ptr<SwapState> m_swap;
    AnonVmaCache m_anon_vmas;
    InodeCache m_inodes { *this };
    Writeback m_writeback { *this };
    Mutex m_files_lock;
    RwSemaphore m_file_work_lock;
    std::unique_ptr<FileIo> m_file_io;
    std::atomic<FileIo*> m_file_io_published { nullptr }; // m_file_io, once it is made
    std::atomic<std::int64_t> m_committed { 0 };
    mutable RwSemaphore m_spaces_lock;
    std::array<AddressSpace*, 64> m_spaces VM_GUARDED_BY(m_spaces_lock) {};
    // Between prepare_fork() and fork_parent() / fork_child(): the address spaces, the pipe
    // whose write end the child closes when it has its copy, and the signal mask to restore.
    std::array<AddressSpace*, 64> m_fork_spaces {};
    int m_fork_pipe[2] { -1, -1 };
    sigset_t m_fork_saved_mask {};
    // Last: they start threads that use everything above.
    std::unique_ptr<Kswapd> m_kswapd;
    std::unique_ptr<UserfaultFaultSource> m_userfault;
    std::unique_ptr<TraceSampler> m_sampler;
    std::unique_ptr<StatsPublisher> m_publisher;
};

} // namespace vmemu
