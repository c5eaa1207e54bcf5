#pragma once
// vmemu's own alternate signal stack, one per thread, for its fault handlers.
#include <csignal>

namespace vmemu {

// The kernel runs vmemu's SIGSEGV and SIGBUS handlers (SA_ONSTACK) on this thread's alternate
// signal stack, which vmemu owns: a mapping of its own (kStackBytes under a guard page) outside
// emulated memory. The program's stack cannot serve: Rust gives each thread an 8 KiB alternate
// stack, too small for a fault and the handler it may chain to, and a stack in emulated memory
// that reclaim took out of the kernel's view leaves the kernel nowhere to write the signal
// frame (SIGSEGV, SI_KERNEL).
// So the program's sigaltstack() calls are kept as what the program believes its alternate stack
// is (program_sigaltstack(), the sigaltstack() that vmemu interposes), and the kernel's stays
// vmemu's. Handlers of the program installed with SA_ONSTACK run on vmemu's stack too.
// A thread gets its stack from vmemu's pthread_create() before the start routine runs (the
// first thread when the first address space attaches), and gives it back after the start
// routine returns or pthread_exit() unwinds it: faults after that (thread-local destructors)
// run on the thread's own stack. Any other thread gets it when the program first sets an
// alternate stack of its own; until then its faults run on the stack it is on.
// Locking: everything here is per thread (static TLS); all of it is async-signal-safe.
class SignalStack {
public:
    static constexpr std::size_t kStackBytes = 256 * 1024;

    // Gives the calling thread vmemu's stack, once; what the program had becomes what it
    // believes. false if the stack cannot be mapped (the thread goes on without one).
    static bool install_for_current_thread() noexcept;
    // Unmaps the calling thread's stack; its later faults run on the stack it is on.
    static void release_for_current_thread() noexcept;
    // sigaltstack(2) as the program sees it: 0, or -1 with errno (EINVAL, ENOMEM, EPERM,
    // EFAULT) as the kernel's. A query goes to the kernel on a thread without vmemu's stack.
    static int program_sigaltstack(const stack_t* stack, stack_t* old) noexcept;
};

} // namespace vmemu
