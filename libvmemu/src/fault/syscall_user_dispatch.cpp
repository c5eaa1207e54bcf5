#include <cerrno>
#include <cstring>
#include <linux/sched.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
#include <vmemu/fault/kept_user_memory.hpp>
#include <vmemu/fault/program_handlers.hpp>
#include <vmemu/fault/program_sigmask.hpp>
#include <vmemu/fault/signal_fault_source.hpp>
#include <vmemu/fault/signal_stack.hpp>
#include <vmemu/fault/syscall_pins.hpp>
#include <vmemu/fault/syscall_user_dispatch.hpp>
#include <vmemu/address_space.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/os/syscall_gate.hpp>

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#endif
#ifndef PR_SYS_DISPATCH_ON
#define PR_SYS_DISPATCH_ON 1
#endif
#ifndef SYS_USER_DISPATCH
#define SYS_USER_DISPATCH 2
#endif

namespace vmemu {

// kBlock from the start: only an armed thread's value matters, and an armed thread outside
// every SyscallsAllowed runs the program's code.
thread_local char t_syscall_selector __attribute__((tls_model("initial-exec"))) = kSyscallBlock;
thread_local bool SyscallUserDispatch::t_armed __attribute__((tls_model("initial-exec"))) = false;
std::atomic<AddressSpace*> SyscallUserDispatch::s_space { nullptr };

namespace {

// The kernel's struct sigaction on x86-64, as rt_sigaction(2) reads and writes it.
struct KernelSigaction {
    void* handler;
    unsigned long flags;
    void (*restorer)();
    std::uint64_t mask;
};

// The program's SIGSYS disposition, word by word: the handler reads it without a lock.
std::atomic<void*> s_program_handler { reinterpret_cast<void*>(SIG_DFL) };
std::atomic<unsigned long> s_program_flags { 0 };
std::atomic<std::uint64_t> s_program_mask { 0 };

// Memory the kernel writes on its own long after the call that registered it (the robust list
// head at exit, the rseq area at every preemption, clear_child_tid at exit), one registration
// of each kind per thread: its pages stay pinned until the thread registers another. A thread
// that exits keeps its pins (the kernel writes clear_child_tid after its last instruction).
struct Registration {
    PageFrame* pages[2];
    std::size_t count;
};
constexpr int kRegistrationKinds = 3;
thread_local Registration t_registrations[kRegistrationKinds] __attribute__((tls_model("initial-exec"))) = {};

long failed(int error) { return -static_cast<long>(error); }

} // namespace

VmResult<void> SyscallUserDispatch::enable(AddressSpace& space)
{
    struct sigaction action {};
    action.sa_sigaction = handle_sigsys;
    // SA_NODEFER: a handler of the program that runs while a diverted call blocks (a signal
    // during read(2)) has its own calls diverted. The mask stays the program's: a blocking
    // call must be interruptible as it is without vmemu.
    action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | SA_RESTART;
    sigemptyset(&action.sa_mask);
    struct sigaction previous {};
    if (os::real_sigaction(SIGSYS, &action, &previous) != 0)
        return vm_fail(errno, "cannot install the SIGSYS handler");
    s_program_handler.store(reinterpret_cast<void*>(previous.sa_handler), std::memory_order_relaxed);
    s_program_flags.store(static_cast<unsigned long>(previous.sa_flags), std::memory_order_relaxed);
    s_space.store(&space, std::memory_order_release);
    if (!arm_current_thread()) {
        int error = errno;
        s_space.store(nullptr, std::memory_order_release);
        os::real_sigaction(SIGSYS, &previous, nullptr);
        return vm_fail(error, "Syscall User Dispatch is not available");
    }
    pthread_atfork(nullptr, nullptr, [] {
        if (t_armed) {
            t_armed = false;
            arm_current_thread();
        }
    });
    return {};
}

bool SyscallUserDispatch::arm_current_thread() noexcept
{
    if (!s_space.load(std::memory_order_acquire))
        return false;
    os::GateRange gate = os::syscall_gate();
    long result = os::gate_syscall(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON,
        static_cast<long>(gate.start), static_cast<long>(gate.length), reinterpret_cast<long>(&t_syscall_selector), 0);
    if (result != 0) {
        errno = static_cast<int>(-result);
        return false;
    }
    t_armed = true;
    return true;
}

bool SyscallUserDispatch::program_sigaction(int signal, const struct sigaction* act, struct sigaction* old) noexcept
{
    if (signal != SIGSYS || !enabled())
        return false;
    struct sigaction replacement {};
    if (act)
        replacement = *act;
    if (old) {
        *old = {};
        old->sa_handler = reinterpret_cast<sighandler_t>(s_program_handler.load(std::memory_order_relaxed));
        old->sa_flags = static_cast<int>(s_program_flags.load(std::memory_order_relaxed));
        std::uint64_t mask = s_program_mask.load(std::memory_order_relaxed);
        std::memcpy(&old->sa_mask, &mask, sizeof mask);
    }
    if (act) {
        std::uint64_t mask;
        std::memcpy(&mask, &replacement.sa_mask, sizeof mask);
        s_program_mask.store(mask, std::memory_order_relaxed);
        s_program_flags.store(static_cast<unsigned long>(replacement.sa_flags), std::memory_order_relaxed);
        s_program_handler.store(reinterpret_cast<void*>(replacement.sa_handler), std::memory_order_release);
    }
    return true;
}

void SyscallUserDispatch::deliver_to_program(int signal, siginfo_t* info, void* context)
{
    void* handler = s_program_handler.load(std::memory_order_acquire);
    if (handler == reinterpret_cast<void*>(SIG_IGN))
        return;
    if (handler == reinterpret_cast<void*>(SIG_DFL)) {
        // A seccomp filter's SIGSYS, or one sent, with no handler: the death it means.
        struct sigaction fallback {};
        fallback.sa_handler = SIG_DFL;
        os::real_sigaction(SIGSYS, &fallback, nullptr);
        os::queue_signal_to_self(SIGSYS, info);
        return;
    }
    ProgramSyscalls diverted;
    if (s_program_flags.load(std::memory_order_relaxed) & SA_SIGINFO)
        reinterpret_cast<void (*)(int, siginfo_t*, void*)>(handler)(signal, info, context);
    else
        reinterpret_cast<void (*)(int)>(handler)(signal);
}

void SyscallUserDispatch::handle_sigsys(int signal, siginfo_t* info, void* context)
{
    if (info->si_code != SYS_USER_DISPATCH) {
        deliver_to_program(signal, info, context);
        return;
    }
    int saved_errno = errno;
    SyscallsAllowed allowed;
    greg_t* registers = static_cast<ucontext_t*>(context)->uc_mcontext.gregs;
    long args[6] = { registers[REG_RDI], registers[REG_RSI], registers[REG_RDX], registers[REG_R10],
        registers[REG_R8], registers[REG_R9] };
    s_space.load(std::memory_order_relaxed)->machine().stat().inc(VmStatItem::SyscallDiverted);
    registers[REG_RAX] = dispatch(registers[REG_RAX], args, context);
    errno = saved_errno;
}

long SyscallUserDispatch::dispatch(long nr, long* args, void* context)
{
    auto* ucontext = static_cast<ucontext_t*>(context);
    switch (nr) {
    case SYS_rt_sigreturn:
        // A handler returning through a restorer outside the gate (installed before vmemu, or
        // by raw rt_sigaction without SA_RESTORER): return through the gate's instead, with the
        // stack pointer where that restorer had it, on the frame it meant to restore.
        ucontext->uc_mcontext.gregs[REG_RIP] = reinterpret_cast<greg_t>(os::vmemu_gate_restorer);
        return nr;
    case SYS_rt_sigprocmask: {
        // The kernel's sets are 8 bytes, libc's 128: the program's memory holds only the 8.
        if (args[3] != sizeof(std::uint64_t))
            return failed(EINVAL);
        sigset_t set;
        sigset_t old;
        sigemptyset(&set);
        if (args[1])
            std::memcpy(&set, reinterpret_cast<const void*>(args[1]), sizeof(std::uint64_t));
        long result = program_sigprocmask_in_context(static_cast<int>(args[0]), args[1] ? &set : nullptr,
            args[2] ? &old : nullptr, &ucontext->uc_sigmask);
        if (result == 0 && args[2])
            std::memcpy(reinterpret_cast<void*>(args[2]), &old, sizeof(std::uint64_t));
        return result;
    }
    case SYS_rt_sigaction:
        return program_rt_sigaction(args);
    case SYS_sigaltstack:
        if (SignalStack::program_sigaltstack(reinterpret_cast<const stack_t*>(args[0]), reinterpret_cast<stack_t*>(args[1])) != 0)
            return failed(errno);
        return 0;
    case SYS_clone:
    case SYS_fork:
    case SYS_vfork:
        return redirect_clone(nr, args, context);
    case SYS_clone3:
        // glibc falls back to clone(), which the trampolines handle.
        return failed(ENOSYS);
    case SYS_set_robust_list:
    case SYS_rseq:
    case SYS_set_tid_address:
        return register_kernel_memory(nr, args);
    default:
        break;
    }
    if (int error = refused_for_kept_memory(nr, args))
        return failed(error);
    nr = copying_call(nr, args);
    AddressSpace& space = *s_space.load(std::memory_order_acquire);
    SyscallPins pins(space);
    pins.pin_call(nr, args);
    if (pins.touched_emulated_memory())
        space.machine().stat().inc(VmStatItem::SyscallDivertedPinned);
    // A handler of the program that runs while the call blocks has its own calls diverted.
    t_syscall_selector = kSyscallBlock;
    long result = os::gate_syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
    t_syscall_selector = kSyscallAllow;
    return result;
}

long SyscallUserDispatch::register_kernel_memory(long nr, long* args)
{
    // rseq(area, length, flags, signature); set_robust_list(head, length); set_tid_address(word).
    constexpr unsigned kRseqUnregister = 1;
    int kind = nr == SYS_set_robust_list ? 0 : nr == SYS_rseq ? 1 : 2;
    auto start = static_cast<std::uintptr_t>(args[0]);
    std::size_t bytes = nr == SYS_set_tid_address ? sizeof(int) : static_cast<std::size_t>(args[1]);
    bool unregister = nr == SYS_rseq && (static_cast<unsigned long>(args[2]) & kRseqUnregister);
    AddressSpace& space = *s_space.load(std::memory_order_acquire);
    Registration next {};
    if (!unregister && start && bytes && bytes <= kPageSize && space.in_reservation(VirtAddr(start))) {
        os::ScopedAsyncSignalBlock signals;
        next.count = space.pin_user_pages(VirtAddr(start), bytes, true, next.pages);
    }
    t_syscall_selector = kSyscallBlock;
    long result = os::gate_syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
    t_syscall_selector = kSyscallAllow;
    // set_tid_address() cannot fail; a refused registration leaves the old one in force.
    bool registered = result >= 0 || nr == SYS_set_tid_address;
    Registration& current = t_registrations[kind];
    Registration stale = registered ? current : next;
    if (registered)
        current = next;
    if (stale.count) {
        os::ScopedAsyncSignalBlock signals;
        space.unpin_user_pages(stale.pages, stale.count);
    }
    return result;
}

long SyscallUserDispatch::redirect_clone(long nr, long* args, void* context)
{
    greg_t* registers = static_cast<ucontext_t*>(context)->uc_mcontext.gregs;
    auto resume = static_cast<std::uintptr_t>(registers[REG_RIP]);
    bool new_stack = nr == SYS_clone && (args[0] & CLONE_VM) && args[1] != 0;
    if (new_stack) {
        // The child pops its return address from the top of the stack it is given.
        auto child_stack = static_cast<std::uintptr_t>(args[1]) - sizeof(std::uintptr_t);
        *reinterpret_cast<std::uintptr_t*>(child_stack) = resume;
        registers[REG_RSI] = static_cast<greg_t>(child_stack);
    }
    os::vmemu_gate_clone_return = resume;
    registers[REG_RIP] = reinterpret_cast<greg_t>(
        new_stack ? os::vmemu_gate_clone_new_stack : os::vmemu_gate_clone_same_stack);
    return nr; // rax for the trampoline's syscall
}

long SyscallUserDispatch::program_rt_sigaction(long* args)
{
    int signal = static_cast<int>(args[0]);
    if (args[3] != 8)
        return failed(EINVAL);
    const auto* next = reinterpret_cast<const KernelSigaction*>(args[1]);
    auto* previous = reinterpret_cast<KernelSigaction*>(args[2]);
    struct sigaction act {};
    if (next) {
        act.sa_handler = reinterpret_cast<sighandler_t>(next->handler);
        act.sa_flags = static_cast<int>(next->flags);
        std::uint64_t mask = next->mask;
        std::memcpy(&act.sa_mask, &mask, sizeof mask);
    }
    struct sigaction old {};
    bool kept = SignalFaultSource::instance().program_sigaction(signal, next ? &act : nullptr, &old)
        || program_sigaction(signal, next ? &act : nullptr, &old);
    int result = 0;
    if (!kept && !ProgramHandlers::sigaction(signal, next ? &act : nullptr, &old, &result))
        result = os::real_sigaction(signal, next ? &act : nullptr, &old);
    if (result != 0)
        return failed(errno);
    if (previous) {
        previous->handler = reinterpret_cast<void*>(old.sa_handler);
        previous->flags = static_cast<unsigned long>(old.sa_flags);
        previous->restorer = old.sa_restorer;
        std::memcpy(&previous->mask, &old.sa_mask, sizeof previous->mask);
    }
    return 0;
}

} // namespace vmemu
