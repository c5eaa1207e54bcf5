#pragma once
#include <atomic>
#include <cstdint>
#include <vmemu/base/thread_annotations.hpp>

namespace vmemu {

// A reader-writer lock in the manner of the kernel's rw_semaphore, for mmap_lock: faults take
// it shared, mmap/munmap/mprotect take it exclusive. Writers are preferred: a waiting writer
// stops new readers, so a stream of faults cannot starve munmap. Async-signal-safe (atomics and
// futexes only).
class VM_CAPABILITY("rw_semaphore") RwSemaphore {
public:
    void lock() VM_ACQUIRE();
    void unlock() VM_RELEASE();
    void lock_shared() VM_ACQUIRE_SHARED();
    void unlock_shared() VM_RELEASE_SHARED();

private:
    static constexpr std::uint32_t kWriter = 1u << 31;
    static constexpr std::uint32_t kWriterWaiting = 1u << 30;
    static constexpr std::uint32_t kReaderMask = kWriterWaiting - 1;

    void wait_for_change(std::uint32_t seen_sequence);
    void wake_all();

    // kWriter | kWriterWaiting | reader count.
    std::atomic<std::uint32_t> m_state { 0 };
    // Bumped on every release; sleepers wait on it.
    std::atomic<std::uint32_t> m_sequence { 0 };
    std::atomic<std::uint32_t> m_sleepers { 0 };
};

} // namespace vmemu
