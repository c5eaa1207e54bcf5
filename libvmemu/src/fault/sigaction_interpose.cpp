// vmemu's sigaction() and signal(): the program's calls for SIGSEGV (and SIGBUS, while vmemu
// handles it; SIGSYS, while Syscall User Dispatch is on) set the handler that vmemu chains to,
// while vmemu's own handler stays installed. With the boundary on, the program's other handlers
// run through vmemu's trampoline (program_handlers.hpp). Every other call
// goes to libc unchanged. Symbols of a shared library linked into the program come before
// libc's, so these are the ones the program calls.
#include <csignal>
#include <vmemu/fault/program_handlers.hpp>
#include <vmemu/fault/signal_fault_source.hpp>
#include <vmemu/fault/syscall_user_dispatch.hpp>
#include <vmemu/os/signals.hpp>

namespace {

using vmemu::SignalFaultSource;

sighandler_t install(int signal, sighandler_t handler, int flags, bool add_self_to_mask)
{
    struct sigaction action {};
    action.sa_handler = handler;
    action.sa_flags = flags;
    sigemptyset(&action.sa_mask);
    if (add_self_to_mask && signal > 0 && signal < NSIG)
        sigaddset(&action.sa_mask, signal);
    struct sigaction old {};
    if (sigaction(signal, &action, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}

} // namespace

extern "C" {

int sigaction(int signal, const struct sigaction* action, struct sigaction* old_action)
{
    vmemu::SyscallsAllowed allowed;
    if (SignalFaultSource::instance().program_sigaction(signal, action, old_action)
        || vmemu::SyscallUserDispatch::program_sigaction(signal, action, old_action))
        return 0;
    if (int result; vmemu::ProgramHandlers::sigaction(signal, action, old_action, &result))
        return result;
    return vmemu::os::real_sigaction(signal, action, old_action);
}

// BSD semantics, as glibc's signal(): the handler stays, its signal is blocked while it runs,
// and interrupted system calls restart.
sighandler_t signal(int signal, sighandler_t handler) { return install(signal, handler, SA_RESTART, true); }
sighandler_t bsd_signal(int signal, sighandler_t handler) { return install(signal, handler, SA_RESTART, true); }

// System V semantics: one-shot, not blocked while it runs.
sighandler_t sysv_signal(int signal, sighandler_t handler)
{
    return install(signal, handler, SA_RESETHAND | SA_NODEFER, false);
}
sighandler_t __sysv_signal(int signal, sighandler_t handler) { return sysv_signal(signal, handler); }

} // extern "C"
