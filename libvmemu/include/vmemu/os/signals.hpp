#pragma once
// Signal primitives, for the SIGSEGV fault source. All async-signal-safe.
#include <csignal>

namespace vmemu::os {

// sigaction(2) as libc's, bypassing vmemu's own interposed sigaction(), with the gate's
// restorer (os/syscall_gate.hpp) in place of libc's.
int real_sigaction(int signal, const struct sigaction* action, struct sigaction* old_action) noexcept;
// Queues signal with info to the calling thread (rt_tgsigqueueinfo).
int queue_signal_to_self(int signal, siginfo_t* info) noexcept;
int thread_sigmask(int how, const sigset_t* set, sigset_t* old_set) noexcept;
// The signals a program's own code cannot trigger synchronously in one thread are the
// asynchronous ones: every signal but SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP and SIGSYS
// (which Syscall User Dispatch raises at a system call).
void fill_async_signals(sigset_t* set) noexcept;

// Blocks the asynchronous signals in the calling thread while it lives. vmemu holds one
// whenever it holds a lock outside the fault path, so that no handler of the program can run,
// touch emulated memory and fault into a lock its own thread holds.
class ScopedAsyncSignalBlock {
public:
    ScopedAsyncSignalBlock() noexcept;
    ~ScopedAsyncSignalBlock();
    ScopedAsyncSignalBlock(const ScopedAsyncSignalBlock&) = delete;
    ScopedAsyncSignalBlock& operator=(const ScopedAsyncSignalBlock&) = delete;

private:
    sigset_t m_saved;
};

// write(2) to stderr of a NUL-terminated string, retried on EINTR; for messages from the fault path.
void write_stderr(const char* text) noexcept;
// Formats value in decimal into buffer (at least 21 bytes); returns buffer.
char* format_decimal(unsigned long value, char* buffer) noexcept;
// Formats value as 0x-prefixed hex into buffer (at least 19 bytes); returns buffer.
char* format_hex(unsigned long value, char* buffer) noexcept;

} // namespace vmemu::os
