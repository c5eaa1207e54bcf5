#pragma once
#include <atomic>
#include <vmemu/base/thread_annotations.hpp>
#include <vmemu/os/futex.hpp>

namespace vmemu {

// A test-and-test-and-set spinlock for short critical sections that never sleep or make
// system calls (the buddy allocator's zone lock). Async-signal-safe.
class VM_CAPABILITY("spinlock") Spinlock {
public:
    void lock() VM_ACQUIRE()
    {
        while (m_locked.exchange(true, std::memory_order_acquire)) {
            while (m_locked.load(std::memory_order_relaxed))
                os::cpu_relax();
        }
    }
    bool try_lock() VM_TRY_ACQUIRE(true) { return !m_locked.exchange(true, std::memory_order_acquire); }
    void unlock() VM_RELEASE() { m_locked.store(false, std::memory_order_release); }
    bool is_locked() const { return m_locked.load(std::memory_order_relaxed); }

private:
    std::atomic<bool> m_locked { false };
};

} // namespace vmemu
