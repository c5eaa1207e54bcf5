#pragma once
#include <atomic>
#include <cstdint>
#include <vmemu/base/thread_annotations.hpp>
#include <vmemu/os/futex.hpp>

namespace vmemu {

// A lock for short critical sections that never sleep or make system calls (the zone lock,
// the lru_lock, si->lock). It spins first, as a kernel spinlock does, but in user space the
// holder can be preempted in the middle of its few instructions, and spinning on a preempted
// holder burns the rest of a time slice: after a bounded spin the waiter parks on a futex
// (three states: 0 free, 1 locked, 2 locked with sleepers). Async-signal-safe; not recursive.
class VM_CAPABILITY("spinlock") Spinlock {
public:
    void lock() VM_ACQUIRE()
    {
        std::uint32_t expected = 0;
        if (!m_state.compare_exchange_strong(expected, 1, std::memory_order_acquire)) [[unlikely]]
            lock_slow();
    }
    bool try_lock() VM_TRY_ACQUIRE(true)
    {
        std::uint32_t expected = 0;
        return m_state.compare_exchange_strong(expected, 1, std::memory_order_acquire);
    }
    void unlock() VM_RELEASE()
    {
        if (m_state.exchange(0, std::memory_order_release) == 2) [[unlikely]]
            os::futex_wake(m_state, 1);
    }
    bool is_locked() const { return m_state.load(std::memory_order_relaxed) != 0; }

private:
    static constexpr int kSpins = 256;

    void lock_slow()
    {
        for (int spin = 0; spin < kSpins; ++spin) {
            os::cpu_relax();
            std::uint32_t expected = 0;
            if (m_state.load(std::memory_order_relaxed) == 0
                && m_state.compare_exchange_weak(expected, 1, std::memory_order_acquire))
                return;
        }
        while (m_state.exchange(2, std::memory_order_acquire) != 0)
            os::futex_wait(m_state, 2);
    }

    std::atomic<std::uint32_t> m_state { 0 };
};
static_assert(sizeof(Spinlock) == 4);

} // namespace vmemu
