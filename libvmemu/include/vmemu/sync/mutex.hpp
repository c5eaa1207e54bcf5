#pragma once
#include <atomic>
#include <cstdint>
#include <vmemu/base/thread_annotations.hpp>

namespace vmemu {

// A four-byte futex mutex (Drepper's three-state design: 0 free, 1 locked, 2 locked with
// waiters). It may be held across system calls: the page-table lock is one, held while the
// hardware view is changed. Async-signal-safe; not recursive.
class VM_CAPABILITY("mutex") Mutex {
public:
    void lock() VM_ACQUIRE();
    bool try_lock() VM_TRY_ACQUIRE(true)
    {
        std::uint32_t expected = 0;
        return m_state.compare_exchange_strong(expected, 1, std::memory_order_acquire);
    }
    void unlock() VM_RELEASE();
    bool is_locked() const { return m_state.load(std::memory_order_relaxed) != 0; }

private:
    std::atomic<std::uint32_t> m_state { 0 };
};
static_assert(sizeof(Mutex) == 4);

} // namespace vmemu
