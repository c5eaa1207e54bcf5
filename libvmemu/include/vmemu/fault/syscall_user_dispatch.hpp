#pragma once
// The system-call boundary: Syscall User Dispatch (PR_SET_SYSCALL_USER_DISPATCH, Linux 5.11)
// diverts every system call the program makes, however it makes it (a libc wrapper, inline in
// libc, syscall(), a raw instruction in a runtime of its own), to vmemu's SIGSYS handler,
// which pins the call's memory (syscall_pins.hpp) and issues it from the gate
// (os/syscall_gate.hpp). See docs/syscall-boundary.md for the design and its limits.
#include <atomic>
#include <csignal>
#include <cstdint>
#include <vmemu/base/vm_error.hpp>

namespace vmemu {

class AddressSpace;

// The selector the kernel reads on every system call of an armed thread: kAllow lets the
// call through, kBlock diverts it. Static TLS, initial-exec, so that it is never emulated
// memory (the kernel kills a thread whose selector it cannot read).
inline constexpr char kSyscallAllow = 0;
inline constexpr char kSyscallBlock = 1;
extern thread_local char t_syscall_selector __attribute__((tls_model("initial-exec")));

// The thread's selector at Value while one lives; nests, and restores what it found.
// Async-signal-safe.
template<char Value>
class ScopedSyscallSelector {
public:
    ScopedSyscallSelector() noexcept
        : m_saved(t_syscall_selector)
    {
        t_syscall_selector = Value;
        asm volatile("" ::: "memory");
    }
    ~ScopedSyscallSelector()
    {
        asm volatile("" ::: "memory");
        t_syscall_selector = m_saved;
    }
    ScopedSyscallSelector(const ScopedSyscallSelector&) = delete;
    ScopedSyscallSelector& operator=(const ScopedSyscallSelector&) = delete;

private:
    char m_saved;
};

// The calling thread's system calls reach the kernel undiverted: vmemu's own code running on a
// program thread (its fault handlers, its interposed functions) holds one.
using SyscallsAllowed = ScopedSyscallSelector<kSyscallAllow>;
// The calling thread's system calls are diverted: the program's code (its signal handlers,
// which vmemu calls or the kernel runs through vmemu's trampolines) runs under one.
using ProgramSyscalls = ScopedSyscallSelector<kSyscallBlock>;

// One per process (a signal disposition is process-wide). The program's threads are armed:
// the first by enable(), the ones it starts by vmemu's pthread_create() (arm_current_thread()
// in the new thread), a child of fork() by the fork handler. vmemu's own threads never are.
// Counted in vmstat as syscall_diverted and syscall_diverted_pinned.
// Locking: enable() once, before the program's main(); the handler reads only atomics and
// the calling thread's TLS.
class SyscallUserDispatch {
public:
    // Installs the SIGSYS handler and arms the calling thread, diverting calls to be pinned in
    // space. EINVAL where the kernel has no Syscall User Dispatch, errors of sigaction.
    static VmResult<void> enable(AddressSpace& space);
    static bool enabled() noexcept { return s_space.load(std::memory_order_acquire) != nullptr; }
    // Arms the calling thread: from then on its calls outside every SyscallsAllowed are diverted.
    static bool arm_current_thread() noexcept;
    // Whether the caller runs on behalf of program code: the thread is armed and diverting.
    static bool program_calling() noexcept { return t_armed && t_syscall_selector == kSyscallBlock; }

    // The program's view of SIGSYS (program_sigaction()): its handler gets the SIGSYS that are
    // not Syscall User Dispatch's (a seccomp filter of its own, kill()). false when not enabled.
    static bool program_sigaction(int signal, const struct sigaction* act, struct sigaction* old) noexcept;

private:
    static void handle_sigsys(int signal, siginfo_t* info, void* context);
    static long dispatch(long nr, long* args, void* context);
    static long redirect_clone(long nr, long* args, void* context);
    // set_robust_list(), rseq() and set_tid_address(): pinned for as long as registered.
    static long register_kernel_memory(long nr, long* args);
    static long program_rt_sigaction(long* args);
    static void deliver_to_program(int signal, siginfo_t* info, void* context);

    static thread_local bool t_armed __attribute__((tls_model("initial-exec")));
    static std::atomic<AddressSpace*> s_space;
};

} // namespace vmemu
