#pragma once
#include <vmemu/base/thread_annotations.hpp>

namespace vmemu {

// RAII guards annotated for the thread-safety analysis (std::lock_guard is not).
template<typename Lock>
class VM_SCOPED_CAPABILITY ScopedLock {
public:
    explicit ScopedLock(Lock& lock) VM_ACQUIRE(lock)
        : m_lock(lock)
    {
        m_lock.lock();
    }
    ~ScopedLock() VM_RELEASE() { m_lock.unlock(); }
    ScopedLock(const ScopedLock&) = delete;
    ScopedLock& operator=(const ScopedLock&) = delete;

private:
    Lock& m_lock;
};

template<typename Lock>
class VM_SCOPED_CAPABILITY SharedLock {
public:
    explicit SharedLock(Lock& lock) VM_ACQUIRE_SHARED(lock)
        : m_lock(lock)
    {
        m_lock.lock_shared();
    }
    ~SharedLock() VM_RELEASE_GENERIC() { m_lock.unlock_shared(); }
    SharedLock(const SharedLock&) = delete;
    SharedLock& operator=(const SharedLock&) = delete;

private:
    Lock& m_lock;
};

} // namespace vmemu
