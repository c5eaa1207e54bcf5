// vmemu's sigprocmask() and pthread_sigmask(): a thread may never block SIGSEGV or SIGBUS for
// real, because every first touch of emulated memory is one of them, and the kernel kills a
// thread that faults with its fault signal blocked. (Ruby blocks SIGSEGV while it installs its
// handlers and then allocates; liblzma starts its worker threads with every signal blocked.)
// So the mask given to the kernel never holds them, and each thread remembers which of them
// the program believes blocked, to report them in the old mask as Linux would.
// Limits: a new thread starts believing neither blocked (the kernel's mask, which it inherits,
// cannot say); a SIGSEGV or SIGBUS sent with kill() while believed blocked is delivered at once
// instead of held pending; masks passed to sigsuspend(), ppoll() and the like go to the kernel
// as they are.
// The kernel's call is made directly, so that these are safe in signal handlers; like glibc's,
// they never block the two signals glibc keeps for itself (SIGCANCEL and SIGSETXID).
#include <cerrno>
#include <csignal>
#include <cstring>
#include <iterator>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

// The fault signals that this thread's program believes blocked: bit i for kFaultSignals[i].
thread_local unsigned t_believed_blocked __attribute__((tls_model("initial-exec"))) = 0;

constexpr int kFaultSignals[] = { SIGSEGV, SIGBUS };
// glibc's SIGCANCEL and SIGSETXID, the first two real-time signals.
constexpr int kLibcSignals[] = { 32, 33 };
// The kernel's sigset_t: one bit per signal, 64 of them.
constexpr std::size_t kKernelSigsetBytes = 8;

// The errno of rt_sigprocmask() with the fault signals taken out of set, or 0.
int set_mask(int how, const sigset_t* set, sigset_t* old_set)
{
    sigset_t kernel_set;
    const sigset_t* passed = set;
    if (set && how != SIG_UNBLOCK) {
        std::memcpy(&kernel_set, set, sizeof kernel_set);
        for (int signal : kFaultSignals)
            sigdelset(&kernel_set, signal);
        for (int signal : kLibcSignals)
            sigdelset(&kernel_set, signal);
        passed = &kernel_set;
    }
    unsigned believed = t_believed_blocked;
    if (syscall(SYS_rt_sigprocmask, how, passed, old_set, kKernelSigsetBytes) != 0)
        return errno;
    if (old_set) {
        for (std::size_t i = 0; i < std::size(kFaultSignals); ++i) {
            if (believed & (1u << i))
                sigaddset(old_set, kFaultSignals[i]);
        }
    }
    if (set) {
        unsigned named = 0;
        for (std::size_t i = 0; i < std::size(kFaultSignals); ++i) {
            if (sigismember(set, kFaultSignals[i]) == 1)
                named |= 1u << i;
        }
        if (how == SIG_SETMASK)
            believed = named;
        else if (how == SIG_BLOCK)
            believed |= named;
        else
            believed &= ~named;
        t_believed_blocked = believed;
    }
    return 0;
}

} // namespace

extern "C" {

int pthread_sigmask(int how, const sigset_t* set, sigset_t* old_set)
{
    int saved_errno = errno;
    int error = set_mask(how, set, old_set);
    errno = saved_errno;
    return error;
}

int sigprocmask(int how, const sigset_t* set, sigset_t* old_set)
{
    if (int error = set_mask(how, set, old_set)) {
        errno = error;
        return -1;
    }
    return 0;
}

} // extern "C"
