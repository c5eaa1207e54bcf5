#pragma once
#include <atomic>
#include <cstdint>
#include <vmemu/base/thread_annotations.hpp>
#include <vmemu/os/futex.hpp>

namespace vmemu {

// A four-byte futex mutex (Drepper's three-state design: 0 free, 1 locked, 2 locked with
// waiters). A waiter spins briefly, then sleeps: it may be held across system calls (the
// page-table lock is, while the hardware view changes), and in user space even a holder of a
// few instructions can be preempted, so waiting by spinning alone would burn time slices.
// Async-signal-safe; not recursive.
class VM_CAPABILITY("mutex") Mutex {
public:
    void lock() VM_ACQUIRE()
    {
        std::uint32_t expected = 0;
        if (!m_state.compare_exchange_strong(expected, 1, std::memory_order_acquire)) [[unlikely]]
            lock_contended();
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
    void lock_contended();

    std::atomic<std::uint32_t> m_state { 0 };
};
static_assert(sizeof(Mutex) == 4);

} // namespace vmemu
