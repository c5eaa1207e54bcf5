// vmemu's pthread_create(): every thread the program starts runs its start routine with vmemu's
// alternate signal stack installed (fault/signal_stack.hpp), and gives the stack back when the
// routine returns or the thread exits with pthread_exit(). A thread the program starts while
// Syscall User Dispatch is on is armed before its start routine runs; vmemu's own are not.
// Not under ThreadSanitizer: its own pthread_create() calls this one with a start routine that
// must run first in the new thread, before any instrumented code.
#include <cerrno>
#include <cstdlib>
#include <dlfcn.h>
#include <pthread.h>
#include <vmemu/fault/signal_stack.hpp>
#include <vmemu/fault/syscall_user_dispatch.hpp>

#if !defined(__SANITIZE_THREAD__)
namespace {

using vmemu::SignalStack;
using vmemu::SyscallUserDispatch;
using StartRoutine = void* (*)(void*);
using CreateFunction = int (*)(pthread_t*, const pthread_attr_t*, StartRoutine, void*);

struct Start {
    StartRoutine routine;
    void* argument;
    bool program; // started by the program's code, not vmemu's
};

void release_stack(void*) { SignalStack::release_for_current_thread(); }

void* run_thread(void* raw)
{
    SignalStack::install_for_current_thread();
    // Read after the stack is there: the block may lie in emulated memory (vmemu's malloc).
    Start start = *static_cast<Start*>(raw);
    if (start.program)
        SyscallUserDispatch::arm_current_thread();
    std::free(raw);
    void* result;
    pthread_cleanup_push(release_stack, nullptr);
    result = start.routine(start.argument);
    pthread_cleanup_pop(1);
    return result;
}

CreateFunction next_create()
{
    static CreateFunction next = reinterpret_cast<CreateFunction>(dlsym(RTLD_NEXT, "pthread_create"));
    return next;
}

} // namespace

extern "C" int pthread_create(pthread_t* thread, const pthread_attr_t* attributes, StartRoutine routine, void* argument)
{
    bool program = SyscallUserDispatch::program_calling();
    vmemu::SyscallsAllowed allowed;
    CreateFunction create = next_create();
    if (!create)
        return ENOSYS;
    auto* start = static_cast<Start*>(std::malloc(sizeof(Start)));
    if (!start)
        return EAGAIN; // as pthread_create() when it cannot allocate the thread's resources
    *start = Start { routine, argument, program };
    int error = create(thread, attributes, run_thread, start);
    if (error != 0)
        std::free(start);
    return error;
}
#endif
