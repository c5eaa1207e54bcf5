#include <csignal>
#include <new>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vmemu/address_space.hpp>
#include <vmemu/base/thread_role.hpp>
#include <vmemu/fault/userfault_fault_source.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/os/syscall.hpp>

namespace vmemu {

VmResult<std::unique_ptr<UserfaultFaultSource>> UserfaultFaultSource::create(Machine& machine,
    os::Userfaultfd::Delivery delivery)
{
    auto uffd = VM_TRY(os::Userfaultfd::open(delivery));
    std::unique_ptr<UserfaultFaultSource> source(new UserfaultFaultSource(machine, std::move(uffd)));
    VM_TRY(source->register_anon_map());
    VM_TRY(source->start());
    return source;
}

VmResult<void> UserfaultFaultSource::register_anon_map()
{
    // With write protection the frames of private pages may live in anonymous memory, moved in
    // and out with UFFDIO_MOVE (FrameArena); the anonymous map must be registered to take moves.
    if (!m_uffd.write_protect())
        return {};
    FrameArena& arena = m_machine.arena();
    VM_TRY(arena.add_anon_map());
    return m_uffd.register_move_target(VirtAddr(arena.anon_map()), arena.anon_map_bytes());
}

UserfaultFaultSource::UserfaultFaultSource(Machine& machine, os::Userfaultfd uffd)
    : m_machine(machine)
    , m_uffd(std::move(uffd))
{
}

VmResult<void> UserfaultFaultSource::start()
{
    if (m_uffd.delivery() == os::Userfaultfd::Delivery::Sigbus)
        return {}; // the faulting threads resolve their own faults
    int stop_fd = eventfd(0, EFD_CLOEXEC);
    if (stop_fd < 0)
        return vm_fail(errno, "eventfd failed");
    m_stop_fd = stop_fd;
    m_thread = start_vmemu_thread("vmemu-uffd", [this] { run(); });
    return {};
}

UserfaultFaultSource::~UserfaultFaultSource()
{
    if (m_stop_fd < 0)
        return; // no thread: SIGBUS delivery, or a child of fork() whose copy failed
    std::uint64_t one = 1;
    (void)os::sys_write(m_stop_fd, &one, sizeof one);
    m_thread.join();
    ::close(m_stop_fd);
}

VmResult<void> UserfaultFaultSource::attach(AddressSpace& space)
{
    std::atomic<AddressSpace*>* free_slot = nullptr;
    for (auto& slot : m_spaces) {
        if (!slot.load(std::memory_order_relaxed)) {
            free_slot = &slot;
            break;
        }
    }
    if (!free_slot)
        return vm_fail(ENOSPC, "too many address spaces for the userfaultfd fault source");
    VM_TRY(register_space(space, VirtAddr()));
    free_slot->store(&space, std::memory_order_release);
    return {};
}

VmResult<void> UserfaultFaultSource::register_space(AddressSpace& space, VirtAddr pool)
{
    // The reservation's VMAs that go through userfaultfd are registered as they are made
    // (AddressSpace::sync_kernel_protection_locked()); its pool is registered here.
    std::size_t reservation = space.reservation_end() - space.reservation_start();
    os::no_huge_pages(space.reservation_start(), reservation);
    constexpr std::size_t kPoolBytes = UserfaultView::kPoolBytes;
    if (pool.get() == 0) {
        pool = VirtAddr(VM_TRY(os::map_anonymous(kPoolBytes)));
        os::no_huge_pages(pool, kPoolBytes);
        // The second half takes pages of executable mappings. (Where a policy forbids
        // writable and executable memory, such a page cannot be taken out, and says so.)
        (void)os::protect(pool.offset(kPoolBytes / 2), kPoolBytes / 2, os::HwProt::ReadWriteExec);
    }
    if (auto registered = m_uffd.register_range(pool, kPoolBytes); !registered) {
        (void)os::unmap(pool.ptr(), kPoolBytes);
        return registered;
    }
    space.use_userfault(m_uffd, pool);
    return {};
}

VmResult<void> UserfaultFaultSource::reopen_in_child()
{
    // First what cannot fail: the inherited eventfd is shared with the parent (a write to it
    // would stop the parent's thread) and the thread handle names a thread of the parent. Both
    // are forgotten before anything else, so that even a child whose copy fails cannot reach
    // them.
    if (m_stop_fd >= 0)
        ::close(m_stop_fd);
    m_stop_fd = -1;
    new (&m_thread) std::thread();
    m_uffd = VM_TRY(os::Userfaultfd::open(m_uffd.delivery()));
    // The anonymous map is inherited with the bytes the parent kept there, copy-on-write, but
    // not its registration.
    VM_TRY(register_anon_map());
    for (auto& slot : m_spaces) {
        if (AddressSpace* space = slot.load(std::memory_order_relaxed))
            VM_TRY(register_space(*space, space->userfault_pool()));
    }
    return start();
}

void UserfaultFaultSource::detach(AddressSpace& space)
{
    for (auto& slot : m_spaces) {
        if (slot.load(std::memory_order_relaxed) == &space)
            slot.store(nullptr, std::memory_order_release);
    }
}

AddressSpace* UserfaultFaultSource::space_for(std::uintptr_t address) const
{
    for (const auto& slot : m_spaces) {
        AddressSpace* space = slot.load(std::memory_order_acquire);
        if (space && space->in_reservation(VirtAddr(address)))
            return space;
    }
    return nullptr;
}

void UserfaultFaultSource::resolve(const os::Userfaultfd::Fault& fault)
{
    VirtAddr page = VirtAddr(fault.address).page_base();
    AddressSpace* space = space_for(fault.address);
    if (space) {
        FaultResult result = space->handle_mm_fault(VirtAddr(fault.address),
            fault.write ? FaultAccess::Write : FaultAccess::Read);
        if (result == FaultResult::OutOfMemory)
            m_machine.out_of_memory(fault.address);
        if (is_sigbus(result)) {
            // VM_FAULT_SIGBUS: the signal goes to the thread that faulted. Only the kernel, or
            // the thread itself, may send one with a fault's si_code and address (rt_tgsigqueueinfo
            // refuses a positive si_code for another thread), so it comes as from tgkill(),
            // after the line that says why when data was lost or the page could not be mapped
            // (past the end of a file, the kernel says nothing).
            if (const char* reason = sigbus_reason(result)) {
                char hex[24];
                os::write_stderr("vmemu: cannot resolve a fault at ");
                os::write_stderr(os::format_hex(fault.address, hex));
                os::write_stderr(": ");
                os::write_stderr(reason);
                os::write_stderr("\n");
            }
            syscall(SYS_tgkill, getpid(), fault.tid, SIGBUS);
        }
    }
    // Whatever happened, the thread looks again: at a mapped page, at the kernel's protection
    // (a SIGSEGV for the other source), or at its pending signal.
    m_uffd.wake(page, kPageSize);
}

void UserfaultFaultSource::run()
{
    os::Userfaultfd::Fault faults[32];
    for (;;) {
        pollfd polled[2] = { { m_uffd.fd(), POLLIN, 0 }, { m_stop_fd, POLLIN, 0 } };
        if (poll(polled, 2, -1) < 0)
            continue;
        if (polled[1].revents)
            return;
        int count = m_uffd.read_faults(faults, 32);
        for (int i = 0; i < count; ++i)
            resolve(faults[i]);
    }
}

} // namespace vmemu
