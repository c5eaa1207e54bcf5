#include <atomic>
#include <cerrno>
#include <vmemu/fault/program_handlers.hpp>
#include <vmemu/fault/syscall_user_dispatch.hpp>
#include <vmemu/os/signals.hpp>

namespace vmemu {
namespace {

struct Handler {
    std::atomic<void*> function { nullptr };
    std::atomic<int> flags { 0 };
};
Handler s_handlers[NSIG];

bool is_function(void* handler)
{
    return handler != reinterpret_cast<void*>(SIG_DFL) && handler != reinterpret_cast<void*>(SIG_IGN)
        && handler != reinterpret_cast<void*>(SIG_ERR);
}

} // namespace

bool ProgramHandlers::sigaction(int signal, const struct sigaction* act, struct sigaction* old, int* result) noexcept
{
    if (!SyscallUserDispatch::enabled() || signal <= 0 || signal >= NSIG || signal == SIGSEGV || signal == SIGBUS
        || signal == SIGSYS || signal == SIGKILL || signal == SIGSTOP)
        return false;
    Handler& slot = s_handlers[signal];
    void* previous_function = slot.function.load(std::memory_order_acquire);
    int previous_flags = slot.flags.load(std::memory_order_acquire);
    struct sigaction installed {};
    if (act) {
        installed = *act;
        sigdelset(&installed.sa_mask, SIGSYS);
        auto* function = reinterpret_cast<void*>(act->sa_handler);
        if (is_function(function)) {
            slot.flags.store(act->sa_flags, std::memory_order_release);
            slot.function.store(function, std::memory_order_release);
            installed.sa_sigaction = trampoline;
            installed.sa_flags |= SA_SIGINFO;
        }
    }
    struct sigaction kernel_old {};
    if (os::real_sigaction(signal, act ? &installed : nullptr, &kernel_old) != 0) {
        if (act) {
            slot.flags.store(previous_flags, std::memory_order_release);
            slot.function.store(previous_function, std::memory_order_release);
        }
        *result = -1;
        return true;
    }
    if (old) {
        *old = kernel_old;
        if (kernel_old.sa_sigaction == trampoline) {
            old->sa_handler = reinterpret_cast<sighandler_t>(previous_function);
            old->sa_flags = (kernel_old.sa_flags & ~SA_SIGINFO) | (previous_flags & SA_SIGINFO);
        }
    }
    *result = 0;
    return true;
}

void ProgramHandlers::trampoline(int signal, siginfo_t* info, void* context)
{
    ProgramSyscalls diverted;
    Handler& slot = s_handlers[signal];
    void* function = slot.function.load(std::memory_order_acquire);
    if (slot.flags.load(std::memory_order_acquire) & SA_SIGINFO)
        reinterpret_cast<void (*)(int, siginfo_t*, void*)>(function)(signal, info, context);
    else
        reinterpret_cast<void (*)(int)>(function)(signal);
}

} // namespace vmemu
