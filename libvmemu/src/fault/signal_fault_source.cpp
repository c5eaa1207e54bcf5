#include <cerrno>
#include <pthread.h>
#include <ucontext.h>
#include <vmemu/address_space.hpp>
#include <vmemu/fault/signal_fault_source.hpp>
#include <vmemu/fault/syscall_user_dispatch.hpp>
#include <vmemu/fault/signal_stack.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/memory.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

namespace {
constinit SignalFaultSource s_source;

// x86-64 page-fault error code bits, as the kernel passes them in the signal frame.
constexpr unsigned long kPfWrite = 1u << 1;
constexpr unsigned long kPfInstruction = 1u << 4;

FaultAccess decode_access(void* context)
{
    auto* ucontext = static_cast<ucontext_t*>(context);
    auto error = static_cast<unsigned long>(ucontext->uc_mcontext.gregs[REG_ERR]);
    if (error & kPfWrite)
        return FaultAccess::Write;
    if (error & kPfInstruction)
        return FaultAccess::Exec;
    return FaultAccess::Read;
}
} // namespace

SignalFaultSource& SignalFaultSource::instance() { return s_source; }

void SignalFaultSource::install_fork_handlers()
{
    static bool installed = false;
    if (installed)
        return;
    installed = true;
    // The hardware view maps frames MAP_SHARED: a child that inherited it would write into the
    // parent's memory. So the reservations are not inherited (MADV_DONTFORK), and in the child
    // the address spaces are stale until Machine::fork_child() gives them memory of their own;
    // but in a fork that the Machine prepared, a space whose view survives fork is inherited
    // (AddressSpace::inherited_by_fork()).
    pthread_atfork([] { s_source.before_fork(); }, [] { s_source.after_fork(); },
        [] { s_source.after_fork_in_child(); });
}

void SignalFaultSource::after_fork_in_child() VM_NO_THREAD_SAFETY_ANALYSIS
{
    for (Slot& slot : m_slots) {
        slot.users.store(0, std::memory_order_relaxed); // the parent's other threads are not here
        slot.stale.store(slot.space.load(std::memory_order_relaxed) != nullptr, std::memory_order_relaxed);
    }
    m_lock.unlock();
}

void SignalFaultSource::adopt_in_child(AddressSpace& space)
{
    for (Slot& slot : m_slots) {
        if (slot.space.load(std::memory_order_relaxed) == &space)
            slot.stale.store(false, std::memory_order_release);
    }
}

void SignalFaultSource::before_fork() VM_NO_THREAD_SAFETY_ANALYSIS
{
    m_lock.lock(); // released by after_fork() in the parent and in the child
    for (Slot& slot : m_slots) {
        AddressSpace* space = slot.space.load(std::memory_order_relaxed);
        if (!space)
            continue;
        std::size_t bytes = space->reservation_end() - space->reservation_start();
        if (space->inherited_by_fork())
            os::include_in_fork(space->reservation_start(), bytes);
        else
            os::exclude_from_fork(space->reservation_start(), bytes);
    }
}

void SignalFaultSource::after_fork() VM_NO_THREAD_SAFETY_ANALYSIS { m_lock.unlock(); }

VmResult<void> SignalFaultSource::install_handler_locked(int signal, void (*handler)(int, siginfo_t*, void*))
{
    struct sigaction action {};
    action.sa_sigaction = handler;
    // SA_NODEFER: a program handler that vmemu calls may itself touch emulated memory.
    action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | SA_RESTART;
    // No asynchronous signal may run a program handler in the middle of a fault: it could
    // touch emulated memory and fault into a lock this thread holds.
    os::fill_async_signals(&action.sa_mask);
    struct sigaction previous {};
    if (os::real_sigaction(signal, &action, &previous) != 0)
        return vm_fail(errno, signal == SIGBUS ? "cannot install the SIGBUS handler" : "cannot install the SIGSEGV handler");
    store_program_action_locked(signal, previous);
    return {};
}

VmResult<void> SignalFaultSource::attach(AddressSpace& space, MissingPages missing)
{
    // Threads started later get theirs from vmemu's pthread_create().
    SignalStack::install_for_current_thread();
    os::ScopedAsyncSignalBlock signals;
    ScopedLock guard(m_lock);
    Slot* free_slot = nullptr;
    for (Slot& slot : m_slots) {
        if (!slot.space.load(std::memory_order_relaxed)) {
            free_slot = &slot;
            break;
        }
    }
    if (!free_slot)
        return vm_fail(ENOSPC, "too many address spaces for the signal fault source");
    if (m_attached == 0) {
        VM_TRY(install_handler_locked(SIGSEGV, handle_sigsegv));
        install_fork_handlers();
    }
    if (missing == MissingPages::Sigbus && m_sigbus_attached == 0) {
        if (auto installed = install_handler_locked(SIGBUS, handle_sigbus); !installed) {
            if (m_attached == 0) {
                struct sigaction restored = m_program_actions[kSegv];
                os::real_sigaction(SIGSEGV, &restored, nullptr);
            }
            return installed;
        }
        m_sigbus_owned.store(true, std::memory_order_release);
    }
    ++m_attached;
    if (missing == MissingPages::Sigbus)
        ++m_sigbus_attached;
    free_slot->sigbus.store(missing == MissingPages::Sigbus, std::memory_order_relaxed);
    free_slot->space.store(&space, std::memory_order_seq_cst);
    return {};
}

void SignalFaultSource::detach(AddressSpace& space)
{
    os::ScopedAsyncSignalBlock signals;
    ScopedLock guard(m_lock);
    for (Slot& slot : m_slots) {
        if (slot.space.load(std::memory_order_relaxed) != &space)
            continue;
        slot.space.store(nullptr, std::memory_order_seq_cst);
        while (slot.users.load(std::memory_order_seq_cst) != 0)
            os::cpu_relax();
        if (slot.sigbus.load(std::memory_order_relaxed) && --m_sigbus_attached == 0) {
            m_sigbus_owned.store(false, std::memory_order_release);
            struct sigaction restored = program_action(SIGBUS);
            os::real_sigaction(SIGBUS, &restored, nullptr);
        }
        if (--m_attached == 0) {
            struct sigaction restored = program_action(SIGSEGV);
            os::real_sigaction(SIGSEGV, &restored, nullptr);
        }
        return;
    }
}

bool SignalFaultSource::program_sigaction(int signal, const struct sigaction* act, struct sigaction* old)
{
    if (signal != SIGSEGV && signal != SIGBUS)
        return false;
    // Read the caller's memory before taking the lock: a bad pointer must fault here, as it
    // would in libc, not while the lock is held.
    struct sigaction replacement {};
    if (act)
        replacement = *act;
    os::ScopedAsyncSignalBlock signals;
    struct sigaction previous {};
    {
        ScopedLock guard(m_lock);
        if ((signal == SIGSEGV ? m_attached : m_sigbus_attached) == 0)
            return false;
        previous = m_program_actions[action_index(signal)];
        if (act)
            store_program_action_locked(signal, replacement);
    }
    if (old)
        *old = previous;
    return true;
}

void SignalFaultSource::store_program_action_locked(int signal, const struct sigaction& action)
{
    m_action_sequence.fetch_add(1, std::memory_order_acq_rel);
    m_program_actions[action_index(signal)] = action;
    m_action_sequence.fetch_add(1, std::memory_order_acq_rel);
}

// The fault path cannot take m_lock (the thread it interrupted may hold it), so it reads
// under the sequence count and retries when a writer was in between.
struct sigaction SignalFaultSource::program_action(int signal) const VM_NO_THREAD_SAFETY_ANALYSIS
{
    for (;;) {
        std::uint32_t before = m_action_sequence.load(std::memory_order_acquire);
        if (before & 1) {
            os::cpu_relax();
            continue;
        }
        struct sigaction copy = m_program_actions[action_index(signal)];
        std::atomic_thread_fence(std::memory_order_acquire);
        if (m_action_sequence.load(std::memory_order_relaxed) == before)
            return copy;
    }
}

SignalFaultSource::Lookup SignalFaultSource::resolve(std::uintptr_t address, void* context, MissingPages missing,
    FaultResult* result, AddressSpace** found)
{
    for (Slot& slot : m_slots) {
        if (!slot.space.load(std::memory_order_relaxed))
            continue;
        slot.users.fetch_add(1, std::memory_order_seq_cst);
        AddressSpace* space = slot.space.load(std::memory_order_seq_cst);
        if (!space || !space->in_reservation(VirtAddr(address))
            || (missing == MissingPages::Sigbus && !slot.sigbus.load(std::memory_order_relaxed))) {
            slot.users.fetch_sub(1, std::memory_order_release);
            continue;
        }
        if (slot.stale.load(std::memory_order_acquire)) {
            slot.users.fetch_sub(1, std::memory_order_release);
            report_stale(address);
            return Lookup::Stale;
        }
        *result = space->handle_mm_fault(VirtAddr(address), decode_access(context));
        *found = space;
        slot.users.fetch_sub(1, std::memory_order_release);
        return Lookup::Resolved;
    }
    return Lookup::NotOurs;
}

void SignalFaultSource::finish_fault(FaultResult result, AddressSpace& space, std::uintptr_t address,
    siginfo_t* info, void* context)
{
    switch (result) {
    case FaultResult::Handled:
        return;
    case FaultResult::MapError:
    case FaultResult::AccessError: {
        // bad_area(): SIGSEGV, also when the kernel said SIGBUS for a missing page whose VMA
        // went away or forbids the access meanwhile.
        siginfo_t segv = *info;
        if (info->si_signo != SIGSEGV) {
            segv = siginfo_t {};
            segv.si_signo = SIGSEGV;
            segv.si_addr = reinterpret_cast<void*>(address);
        }
        segv.si_code = result == FaultResult::MapError ? SEGV_MAPERR : SEGV_ACCERR;
        deliver_to_program(SIGSEGV, &segv, context);
        return;
    }
    case FaultResult::OutOfMemory:
        space.machine().out_of_memory(address); // the OOM kill: does not return
    case FaultResult::SigBus:
        raise_sigbus(address, context);
        return;
    case FaultResult::IoError:
    case FaultResult::MapLimit:
    case FaultResult::KernelRefused:
        report_fatal(sigbus_reason(result), address, context);
        return;
    }
}

void SignalFaultSource::handle_sigsegv(int signal, siginfo_t* info, void* context)
{
    SyscallsAllowed allowed;
    int saved_errno = errno;
    SignalFaultSource& self = s_source;
    auto address = reinterpret_cast<std::uintptr_t>(info->si_addr);
    // Only faults the kernel raised (si_code > 0) are faults; a SIGSEGV sent by kill() is not.
    if (info->si_code > 0) {
        FaultResult result = FaultResult::Handled;
        AddressSpace* space = nullptr;
        Lookup lookup = self.resolve(address, context, MissingPages::Sigsegv, &result, &space);
        if (lookup == Lookup::Resolved) {
            self.finish_fault(result, *space, address, info, context);
            errno = saved_errno;
            return;
        }
    }
    self.deliver_to_program(signal, info, context);
    errno = saved_errno;
}

void SignalFaultSource::handle_sigbus(int signal, siginfo_t* info, void* context)
{
    SyscallsAllowed allowed;
    int saved_errno = errno;
    SignalFaultSource& self = s_source;
    auto address = reinterpret_cast<std::uintptr_t>(info->si_addr);
    // handle_userfault() answers a missing page with VM_FAULT_SIGBUS, which the kernel raises
    // as BUS_ADRERR at the address. A stale space (a child of fork() before its copy) has no
    // registration, so its SIGBUS cannot come from there: it goes to the program.
    if (info->si_code == BUS_ADRERR) {
        FaultResult result = FaultResult::Handled;
        AddressSpace* space = nullptr;
        if (self.resolve(address, context, MissingPages::Sigbus, &result, &space) == Lookup::Resolved) {
            self.finish_fault(result, *space, address, info, context);
            errno = saved_errno;
            return;
        }
    }
    self.deliver_to_program(signal, info, context);
    errno = saved_errno;
}

void SignalFaultSource::report_stale(std::uintptr_t address)
{
    // A child of fork() on emulated memory it never got a copy of: say so once, then SIGSEGV.
    static std::atomic<bool> said { false };
    if (said.exchange(true))
        return;
    char hex[24];
    os::write_stderr("vmemu: a child of fork() touched emulated memory at ");
    os::write_stderr(os::format_hex(address, hex));
    os::write_stderr(" that it has no copy of: SIGSEGV\n");
}

void SignalFaultSource::report_fatal(const char* what, std::uintptr_t address, void* context)
{
    // VM_FAULT_OOM, and VM_FAULT_SIGBUS for lost data: say why, then raise SIGBUS.
    char hex[24];
    os::write_stderr("vmemu: cannot resolve a fault at ");
    os::write_stderr(os::format_hex(address, hex));
    os::write_stderr(": ");
    os::write_stderr(what);
    os::write_stderr("\n");
    raise_sigbus(address, context);
}

void SignalFaultSource::raise_sigbus(std::uintptr_t address, void* context)
{
    // As the kernel's do_sigbus() and force_sig_fault(): BUS_ADRERR at the address.
    siginfo_t info {};
    info.si_signo = SIGBUS;
    info.si_code = BUS_ADRERR;
    info.si_addr = reinterpret_cast<void*>(address);
    if (owns_sigbus()) {
        // A queued SIGBUS would come back to handle_sigbus() as a missing page: the program's
        // action is taken here, as for a SIGSEGV of its own.
        deliver_to_program(SIGBUS, &info, context);
        return;
    }
    // Unblocked, and an ignored SIGBUS takes its default action. The program's handler runs
    // before this returns; when it returns too, the access is tried again and faults again, as
    // in Linux.
    struct sigaction action {};
    if (os::real_sigaction(SIGBUS, nullptr, &action) == 0 && action.sa_handler == SIG_IGN) {
        action.sa_handler = SIG_DFL;
        os::real_sigaction(SIGBUS, &action, nullptr);
    }
    os::queue_signal_to_self(SIGBUS, &info);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGBUS);
    os::thread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

void SignalFaultSource::deliver_to_program(int signal, siginfo_t* info, void* context)
{
    struct sigaction action = program_action(signal);
    if (action.sa_handler == SIG_DFL || action.sa_handler == SIG_IGN) {
        // force_sig(): a fault the program cannot handle kills it, with a core dump. Queue the
        // signal with its siginfo under the default action, so that the core shows the fault.
        struct sigaction default_action {};
        default_action.sa_handler = SIG_DFL;
        os::real_sigaction(signal, &default_action, nullptr);
        os::queue_signal_to_self(signal, info);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, signal);
        os::thread_sigmask(SIG_UNBLOCK, &set, nullptr);
        return; // not reached; if it were, the access would fault again under SIG_DFL
    }
    if (action.sa_flags & SA_RESETHAND) {
        // Async signals are blocked in this handler, so m_lock cannot be held by this thread.
        struct sigaction reset {};
        reset.sa_handler = SIG_DFL;
        ScopedLock guard(m_lock);
        store_program_action_locked(signal, reset);
    }
    // Run the program's handler under the mask the kernel would give it: the mask at the fault
    // plus the handler's sa_mask. SIGSEGV and SIGBUS stay open, so that the handler may itself
    // touch emulated memory.
    auto* ucontext = static_cast<ucontext_t*>(context);
    sigset_t mask = ucontext->uc_sigmask;
    for (int other = 1; other < NSIG; ++other) {
        if (sigismember(&action.sa_mask, other) == 1)
            sigaddset(&mask, other);
    }
    sigdelset(&mask, SIGSEGV);
    sigdelset(&mask, SIGBUS);
    sigdelset(&mask, SIGSYS);
    sigset_t saved;
    os::thread_sigmask(SIG_SETMASK, &mask, &saved);
    {
        // The handler is the program's code: its system calls are diverted.
        ProgramSyscalls diverted;
        if (action.sa_flags & SA_SIGINFO)
            action.sa_sigaction(signal, info, context);
        else
            action.sa_handler(signal);
    }
    os::thread_sigmask(SIG_SETMASK, &saved, nullptr);
}

} // namespace vmemu
