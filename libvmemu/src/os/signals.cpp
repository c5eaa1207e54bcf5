#include <cerrno>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <sys/syscall.h>
#include <unistd.h>
#include <vmemu/os/signals.hpp>
#include <vmemu/os/syscall.hpp>
#include <vmemu/os/syscall_gate.hpp>

namespace vmemu::os {
namespace {

constexpr unsigned long kSaRestorer = 0x04000000; // SA_RESTORER, which glibc's headers keep to themselves

// The kernel's struct sigaction on x86-64 (arch/x86/include/uapi/asm/signal.h).
struct KernelSigaction {
    void* handler;
    unsigned long flags;
    void (*restorer)();
    std::uint64_t mask;
};

} // namespace

int real_sigaction(int signal, const struct sigaction* action, struct sigaction* old_action) noexcept
{
    KernelSigaction next {};
    if (action) {
        next.handler = reinterpret_cast<void*>(action->sa_handler);
        next.flags = static_cast<unsigned long>(action->sa_flags) | kSaRestorer;
        next.restorer = vmemu_gate_restorer;
        std::memcpy(&next.mask, &action->sa_mask, sizeof next.mask);
    }
    KernelSigaction previous {};
    long result = gate_syscall(SYS_rt_sigaction, signal, action ? reinterpret_cast<long>(&next) : 0,
        old_action ? reinterpret_cast<long>(&previous) : 0, sizeof previous.mask, 0, 0);
    if (result < 0) {
        errno = static_cast<int>(-result);
        return -1;
    }
    if (old_action) {
        *old_action = {};
        old_action->sa_handler = reinterpret_cast<sighandler_t>(previous.handler);
        old_action->sa_flags = static_cast<int>(previous.flags);
        old_action->sa_restorer = previous.restorer;
        std::memcpy(&old_action->sa_mask, &previous.mask, sizeof previous.mask);
    }
    return 0;
}

int queue_signal_to_self(int signal, siginfo_t* info) noexcept
{
    return static_cast<int>(syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), signal, info));
}

int thread_sigmask(int how, const sigset_t* set, sigset_t* old_set) noexcept
{
    return pthread_sigmask(how, set, old_set);
}

void fill_async_signals(sigset_t* set) noexcept
{
    sigfillset(set);
    for (int synchronous : { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS })
        sigdelset(set, synchronous);
}

ScopedAsyncSignalBlock::ScopedAsyncSignalBlock() noexcept
{
    sigset_t async;
    fill_async_signals(&async);
    pthread_sigmask(SIG_BLOCK, &async, &m_saved);
}

ScopedAsyncSignalBlock::~ScopedAsyncSignalBlock() { pthread_sigmask(SIG_SETMASK, &m_saved, nullptr); }

void write_stderr(const char* text) noexcept
{
    std::size_t left = std::strlen(text);
    while (left > 0) {
        ssize_t n = sys_write(STDERR_FILENO, text, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        text += n;
        left -= static_cast<std::size_t>(n);
    }
}

char* format_decimal(unsigned long value, char* buffer) noexcept
{
    char digits[21];
    int count = 0;
    do {
        digits[count++] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value != 0);
    char* out = buffer;
    while (count > 0)
        *out++ = digits[--count];
    *out = '\0';
    return buffer;
}

char* format_hex(unsigned long value, char* buffer) noexcept
{
    char digits[16];
    int count = 0;
    do {
        digits[count++] = "0123456789abcdef"[value & 15];
        value >>= 4;
    } while (value != 0);
    char* out = buffer;
    *out++ = '0';
    *out++ = 'x';
    while (count > 0)
        *out++ = digits[--count];
    *out = '\0';
    return buffer;
}

} // namespace vmemu::os
