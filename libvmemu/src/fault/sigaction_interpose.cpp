// vmemu's sigaction() and signal(): the program's calls for SIGSEGV (and SIGBUS, while vmemu
// handles it; SIGSYS, while Syscall User Dispatch is on) set the handler that vmemu chains to,
// while vmemu's own handler stays installed. Every other call
// goes to libc unchanged. Symbols of a shared library linked into the program come before
// libc's, so these are the ones the program calls.
#include <csignal>
#include <cstring>
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
    if (!action || !vmemu::SyscallUserDispatch::enabled())
        return vmemu::os::real_sigaction(signal, action, old_action);
    // A handler that blocks SIGSYS would be killed by its first system call.
    struct sigaction installed;
    std::memcpy(&installed, action, sizeof installed);
    sigdelset(&installed.sa_mask, SIGSYS);
    return vmemu::os::real_sigaction(signal, &installed, old_action);
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
