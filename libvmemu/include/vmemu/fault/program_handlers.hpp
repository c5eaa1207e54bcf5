#pragma once
// The program's handlers of the signals vmemu does not handle itself, while the system-call
// boundary is on (syscall_user_dispatch.hpp).
#include <csignal>

namespace vmemu {

// The kernel runs each of them through vmemu's trampoline, which diverts the handler's system
// calls (ProgramSyscalls) whatever code the signal interrupted, vmemu's own included, and puts
// the thread's selector back when the handler returns. A handler that leaves by siglongjmp()
// lands in the program's code with its calls diverted, as they must be there; without the
// trampoline, a handler that interrupted a call vmemu let through (a blocking read(2)) and
// jumped out would leave the thread unguarded for good.
// sigaction() reports the program's handler, never the trampoline. SIGSEGV, SIGBUS and SIGSYS
// are vmemu's (signal_fault_source.hpp, syscall_user_dispatch.hpp); SIGKILL and SIGSTOP have
// no handlers.
// Locking: none; each signal's handler and flags are atomics, written before the kernel's
// disposition changes, read by the trampoline.
class ProgramHandlers {
public:
    // sigaction(2) for signal while the boundary is on: 0, or -1 with errno, as the kernel's;
    // the handler's mask never holds SIGSYS. false, doing nothing, when the call is not
    // ProgramHandlers' to make (the boundary is off, or the signal is one of those above).
    static bool sigaction(int signal, const struct sigaction* act, struct sigaction* old, int* result) noexcept;

private:
    static void trampoline(int signal, siginfo_t* info, void* context);
};

} // namespace vmemu
