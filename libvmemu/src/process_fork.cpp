// fork(2) of the process a Machine runs in. The child inherits every table of the machine
// (they live in private memory, which fork() copies) but none of its kernel objects: the
// direct map is MADV_DONTFORK, and the memfd, the swap file and the io_uring instances it
// inherits are the parent's. fork_child() gives it its own, with copies of the frames and
// slots in use, while the parent waits with every lock held, so that what the child copies is
// the parent's memory at the instant of fork(). The reservations are MADV_DONTFORK too, except
// where the private view survives fork (AddressSpace::inherited_by_fork()): the child then
// inherits the pages that view maps, and nothing of theirs is copied.
#include <cerrno>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#include <vmemu/base/thread_role.hpp>
#include <vmemu/fault/signal_fault_source.hpp>
#include <vmemu/fs/inode.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/memory.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/sync/scoped_lock.hpp>
#include <vmemu/os/syscall.hpp>

namespace vmemu {

void Machine::prepare_fork() VM_NO_THREAD_SAFETY_ANALYSIS
{
    // A program's signal handler that touched emulated memory now would wait for the locks
    // this thread is about to take.
    sigset_t async;
    os::fill_async_signals(&async);
    os::thread_sigmask(SIG_BLOCK, &async, &m_fork_saved_mask);
    {
        SharedLock guard(m_spaces_lock);
        m_fork_spaces = m_spaces;
    }
    if (m_kswapd)
        m_kswapd->pause();
    lock_for_fork();
    for (AddressSpace* space : m_fork_spaces) {
        if (space)
            space->prepare_fork_locked();
    }
    // Other threads of the program may write to the pages mapped now: take them out of the
    // hardware view, so that those threads fault and wait for the locks until the child has
    // its copy.
    // Under the userfaultfd view the bytes of mapped pages are not in their frames at all: they
    // go back, unless the child inherits them with the reservation.
    if (m_userfault || os::thread_count() > 1 + vmemu_thread_count()) {
        for (AddressSpace* space : m_fork_spaces) {
            if (space)
                space->drop_hardware_view_locked();
        }
    }
    if (::pipe2(m_fork_pipe, O_CLOEXEC) != 0)
        m_fork_pipe[0] = m_fork_pipe[1] = -1;
}

void Machine::lock_for_fork() VM_NO_THREAD_SAFETY_ANALYSIS
{
    // Taken first (the first file mmap starts the file I/O before any mmap_lock): the file I/O
    // exists or not for the whole of the fork.
    m_files_lock.lock();
    // In the lock order (address_space.hpp): no fault or change of mappings can start once the
    // mmap_locks are held, and then the swap I/O already in flight can only drain.
    for (AddressSpace* space : m_fork_spaces) {
        if (space)
            space->m_mmap_lock.lock();
    }
    wait_for_swap_io();
    // Then the work on file pages that no mmap_lock holds off, and the file I/O in flight:
    // their page locks and references are the parent's alone. kswapd is paused, and faults
    // wait for the mmap_locks, so no new file I/O starts.
    m_file_work_lock.lock();
    if (m_file_io) {
        while (m_file_io->in_flight() != 0)
            sched_yield();
    }
    m_inodes.lock_for_fork();
    if (m_file_io)
        m_file_io->lock_for_fork();
    m_spaces_lock.lock();
    for (AddressSpace* space : m_fork_spaces) {
        if (space)
            space->m_page_table_lock.lock();
    }
    m_lruvec.lock_for_fork();
    // The swap slots change only in faults, reclaim and I/O completions, all of which are held.
    if (m_swap)
        m_swap->device().lock_for_fork();
    m_allocator.buddy().lock_for_fork();
}

void Machine::unlock_after_fork() VM_NO_THREAD_SAFETY_ANALYSIS
{
    m_allocator.buddy().unlock_after_fork();
    if (m_swap)
        m_swap->device().unlock_after_fork();
    m_lruvec.unlock_after_fork();
    for (AddressSpace* space : m_fork_spaces) {
        if (space)
            space->m_page_table_lock.unlock();
    }
    m_spaces_lock.unlock();
    if (m_file_io)
        m_file_io->unlock_after_fork();
    m_inodes.unlock_after_fork();
    m_file_work_lock.unlock();
    for (AddressSpace* space : m_fork_spaces) {
        if (space)
            space->m_mmap_lock.unlock();
    }
    m_files_lock.unlock();
}

void Machine::fork_parent()
{
    if (m_fork_pipe[1] >= 0)
        ::close(m_fork_pipe[1]);
    if (m_fork_pipe[0] >= 0) {
        // The child closes its end when it has its copy; its death closes it too, and so does
        // a fork() that failed, since then there is no child to hold it.
        char byte;
        while (os::sys_read(m_fork_pipe[0], &byte, 1) < 0 && errno == EINTR) { }
        ::close(m_fork_pipe[0]);
    }
    m_fork_pipe[0] = m_fork_pipe[1] = -1;
    end_fork();
    unlock_after_fork();
    if (m_kswapd)
        m_kswapd->resume();
    os::thread_sigmask(SIG_SETMASK, &m_fork_saved_mask, nullptr);
}

void Machine::end_fork()
{
    for (AddressSpace* space : m_fork_spaces) {
        if (space)
            space->end_fork();
    }
}

VmResult<void> Machine::copy_for_child() VM_NO_THREAD_SAFETY_ANALYSIS
{
    if (m_fork_pipe[1] < 0)
        return vm_fail(EMFILE, "no pipe to hold the parent until the copy is done");
    VM_TRY(m_arena->reopen_in_child());
    // The child's own userfaultfd first: taking the reservations back registers them with it.
    if (m_userfault)
        VM_TRY(m_userfault->reopen_in_child());
    std::int64_t reservations = 0;
    for (AddressSpace* space : m_fork_spaces) {
        if (!space)
            continue;
        VM_TRY(space->adopt_in_child());
        ++reservations;
    }
    // The hardware view is the reservations alone now, one kernel mapping each.
    m_budget.charge(reservations - m_budget.used());
    m_stat.add(VmStatItem::NrKernelMappings, reservations - m_stat.value(VmStatItem::NrKernelMappings));
    if (m_swap)
        VM_TRY(m_swap->device().reopen_in_child());
    return {};
}

VmResult<void> Machine::fork_child() VM_NO_THREAD_SAFETY_ANALYSIS
{
    if (m_fork_pipe[0] >= 0)
        ::close(m_fork_pipe[0]);
    VmResult<void> result = copy_for_child();
    // The parent may go on: everything the child copies from it is copied.
    if (m_fork_pipe[1] >= 0)
        ::close(m_fork_pipe[1]);
    m_fork_pipe[0] = m_fork_pipe[1] = -1;
    if (!result) {
        // An inherited reservation without its registrations would fill missing pages with
        // the kernel's zeros: it goes, so that a touch of it is SIGSEGV, as in any failed copy.
        for (AddressSpace* space : m_fork_spaces) {
            if (space && space->inherited_by_fork())
                (void)os::map_fixed_reserved(space->reservation_start(),
                    space->reservation_end() - space->reservation_start());
        }
    }
    end_fork();
    // The child's trace is its own to start: the sampler's thread stayed in the parent.
    if (m_sampler) {
        m_sampler->forget_thread_in_child();
        m_sampler.reset();
    }
    // The segment of `vmemu top` is the parent's.
    if (m_publisher) {
        m_publisher->forget_in_child();
        m_publisher.reset();
    }
    if (result) {
        for (AddressSpace* space : m_fork_spaces) {
            if (space)
                SignalFaultSource::instance().adopt_in_child(*space);
        }
    }
    // A fresh kswapd either way, so that the machine's destructor has a thread to stop; it
    // stays paused when the copy failed.
    if (m_kswapd)
        m_kswapd->restart_in_child();
    unlock_after_fork();
    if (result && m_file_io)
        result = adopt_files_in_child();
    if (result) {
        if (m_kswapd)
            m_kswapd->resume_quietly();
        // Pins of the parent's other threads, whose system calls this process is not making:
        // each held a reference.
        for (std::size_t pfn = 0; pfn < frame_count(); ++pfn) {
            PageFrame& page = m_arena->frame(Pfn(pfn));
            for (std::uint32_t pins = page.pincount.exchange(0, std::memory_order_acq_rel); pins > 0; --pins)
                put_page(page);
        }
    }
    os::thread_sigmask(SIG_SETMASK, &m_fork_saved_mask, nullptr);
    return result;
}

VmResult<void> Machine::adopt_files_in_child()
{
    VM_TRY(m_file_io->restart_in_child());
    // No page was locked or under I/O at fork() (lock_for_fork()). The parent writes its dirty
    // pages back; the child's copies of them are a snapshot, whose write-back from here could
    // land after the parent's newer bytes. So they are clean here, and write-protected, so
    // that the child's own writes dirty them again.
    m_inodes.for_each_dirty([&](Inode& inode) {
        inode.cache().for_each_page(0, PageCache::kMaxIndex, [&](std::uint64_t, PageFrame& page) {
            if (page.test(PageFlag::Dirty))
                m_writeback.cancel_dirty_page(inode, page);
        });
    });
    m_writeback.restart_flusher_in_child();
    return {};
}

} // namespace vmemu
