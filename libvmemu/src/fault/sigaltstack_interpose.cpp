// vmemu's sigaltstack(): the program's alternate signal stack is what it believes it is, while
// the kernel's is vmemu's own (fault/signal_stack.hpp).
// Not under ThreadSanitizer, which calls sigaltstack() while it starts, before instrumented
// code may run; there only the threads that attach address spaces get vmemu's stack.
#include <csignal>
#include <vmemu/fault/signal_stack.hpp>

#if !defined(__SANITIZE_THREAD__)
extern "C" int sigaltstack(const stack_t* stack, stack_t* old)
{
    return vmemu::SignalStack::program_sigaltstack(stack, old);
}
#endif
