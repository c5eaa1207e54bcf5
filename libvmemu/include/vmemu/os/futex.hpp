#pragma once
#include <atomic>
#include <cstdint>

namespace vmemu::os {

// Sleeps while *word == expected (FUTEX_WAIT_PRIVATE). Async-signal-safe; spurious wake-ups happen.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept;
// futex_wait() for at most milliseconds.
void futex_wait_for(std::atomic<std::uint32_t>& word, std::uint32_t expected, unsigned milliseconds) noexcept;
// Wakes up to count waiters on word (FUTEX_WAKE_PRIVATE).
void futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept;

inline void cpu_relax() noexcept { __builtin_ia32_pause(); }

} // namespace vmemu::os
