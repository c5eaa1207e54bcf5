#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <sys/syscall.h>
#include <unistd.h>
#include <vmemu/os/signals.hpp>
#include <vmemu/os/syscall.hpp>

// glibc exports its implementation under this name too; calling it directly bypasses the
// sigaction() that vmemu interposes.
extern "C" int __sigaction(int, const struct sigaction*, struct sigaction*);

namespace vmemu::os {

int real_sigaction(int signal, const struct sigaction* action, struct sigaction* old_action) noexcept
{
    return __sigaction(signal, action, old_action);
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
    for (int synchronous : { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP })
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
