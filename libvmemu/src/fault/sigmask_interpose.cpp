// vmemu's sigprocmask() and pthread_sigmask(): a thread may never block SIGSEGV, SIGBUS or
// SIGSYS for real, because every first touch of emulated memory is one of the first two, every
// system call that Syscall User Dispatch diverts is the third, and the kernel kills a thread
// that gets one of them blocked. (Ruby blocks SIGSEGV while it installs its
// handlers and then allocates; liblzma starts its worker threads with every signal blocked.)
// So the mask given to the kernel never holds them, and each thread remembers which of them
// the program believes blocked, to report them in the old mask as Linux would.
// Limits: a new thread starts believing neither blocked (the kernel's mask, which it inherits,
// cannot say); a SIGSEGV or SIGBUS sent with kill() while believed blocked is delivered at once
// instead of held pending; masks passed to sigsuspend(), ppoll() and the like go to the kernel
// as they are.
// The kernel's call is made directly (through the system-call gate, so that it is never
// diverted), so that these are safe in signal handlers; like glibc's, they never block the two
// signals glibc keeps for itself (SIGCANCEL and SIGSETXID). A rt_sigprocmask that Syscall User
// Dispatch diverts (libc's own, or a raw one) gets the same treatment, applied to the mask that
// the SIGSYS handler's return restores (program_sigprocmask_in_context()).
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <sys/syscall.h>
#include <unistd.h>
#include <vmemu/fault/program_sigmask.hpp>
#include <vmemu/os/syscall_gate.hpp>

namespace {

// The fault signals that this thread's program believes blocked: bit i for kFaultSignals[i].
thread_local unsigned t_believed_blocked __attribute__((tls_model("initial-exec"))) = 0;

constexpr int kFaultSignals[] = { SIGSEGV, SIGBUS, SIGSYS };
// glibc's SIGCANCEL and SIGSETXID, the first two real-time signals.
constexpr int kLibcSignals[] = { 32, 33 };
// The kernel's sigset_t: one bit per signal, 64 of them.
constexpr std::size_t kKernelSigsetBytes = 8;

long kernel_sigprocmask(int how, const sigset_t* set, sigset_t* old_set)
{
    return vmemu::os::gate_syscall(SYS_rt_sigprocmask, how, reinterpret_cast<long>(set),
        reinterpret_cast<long>(old_set), kKernelSigsetBytes, 0, 0);
}

// rt_sigprocmask(how, set, old_set) applied to *mask instead of the thread's: -errno or 0.
long edit_sigprocmask(int how, const sigset_t* set, sigset_t* old_set, sigset_t* mask)
{
    sigset_t previous;
    std::memcpy(&previous, mask, sizeof previous);
    if (set) {
        std::uint64_t bits;
        std::uint64_t named;
        std::memcpy(&bits, mask, sizeof bits);
        std::memcpy(&named, set, sizeof named);
        if (how == SIG_BLOCK)
            bits |= named;
        else if (how == SIG_UNBLOCK)
            bits &= ~named;
        else if (how == SIG_SETMASK)
            bits = named;
        else
            return -EINVAL;
        std::memcpy(mask, &bits, sizeof bits);
    }
    if (old_set)
        std::memcpy(old_set, &previous, kKernelSigsetBytes);
    return 0;
}

// The errno of rt_sigprocmask() with the fault signals taken out of set, or 0, applied by
// apply(how, set, old_set) (-errno or 0).
template<typename Apply>
int set_mask(int how, const sigset_t* set, sigset_t* old_set, Apply apply)
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
    if (long result = apply(how, passed, old_set); result != 0)
        return static_cast<int>(-result);
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

int thread_set_mask(int how, const sigset_t* set, sigset_t* old_set)
{
    return set_mask(how, set, old_set, kernel_sigprocmask);
}

} // namespace

namespace vmemu {

long program_sigprocmask_in_context(int how, const sigset_t* set, sigset_t* old_set, sigset_t* context_mask)
{
    return -set_mask(how, set, old_set,
        [context_mask](int h, const sigset_t* s, sigset_t* o) { return edit_sigprocmask(h, s, o, context_mask); });
}

} // namespace vmemu

extern "C" {

int pthread_sigmask(int how, const sigset_t* set, sigset_t* old_set)
{
    int saved_errno = errno;
    int error = thread_set_mask(how, set, old_set);
    errno = saved_errno;
    return error;
}

int sigprocmask(int how, const sigset_t* set, sigset_t* old_set)
{
    if (int error = thread_set_mask(how, set, old_set)) {
        errno = error;
        return -1;
    }
    return 0;
}

} // extern "C"
