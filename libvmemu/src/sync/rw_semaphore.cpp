#include <vmemu/os/futex.hpp>
#include <vmemu/sync/rw_semaphore.hpp>

namespace vmemu {

void RwSemaphore::wait_for_change(std::uint32_t seen_sequence)
{
    for (int spin = 0; spin < 64; ++spin) {
        if (m_sequence.load(std::memory_order_acquire) != seen_sequence)
            return;
        os::cpu_relax();
    }
    m_sleepers.fetch_add(1, std::memory_order_seq_cst);
    os::futex_wait(m_sequence, seen_sequence);
    m_sleepers.fetch_sub(1, std::memory_order_relaxed);
}

void RwSemaphore::wake_all()
{
    m_sequence.fetch_add(1, std::memory_order_seq_cst);
    if (m_sleepers.load(std::memory_order_seq_cst) != 0)
        os::futex_wake(m_sequence, INT32_MAX);
}

void RwSemaphore::lock_shared()
{
    for (;;) {
        std::uint32_t sequence = m_sequence.load(std::memory_order_acquire);
        std::uint32_t state = m_state.load(std::memory_order_relaxed);
        while (!(state & (kWriter | kWriterWaiting))) {
            if (m_state.compare_exchange_weak(state, state + 1, std::memory_order_acquire))
                return;
        }
        wait_for_change(sequence);
    }
}

void RwSemaphore::unlock_shared()
{
    std::uint32_t previous = m_state.fetch_sub(1, std::memory_order_release);
    if ((previous & kReaderMask) == 1 && (previous & kWriterWaiting))
        wake_all();
}

void RwSemaphore::lock()
{
    for (;;) {
        std::uint32_t sequence = m_sequence.load(std::memory_order_acquire);
        std::uint32_t state = m_state.load(std::memory_order_relaxed);
        for (;;) {
            if ((state & ~kWriterWaiting) == 0) {
                if (m_state.compare_exchange_weak(state, kWriter, std::memory_order_acquire))
                    return;
                continue;
            }
            if (state & kWriterWaiting)
                break;
            if (m_state.compare_exchange_weak(state, state | kWriterWaiting, std::memory_order_relaxed))
                break;
        }
        wait_for_change(sequence);
    }
}

void RwSemaphore::unlock()
{
    m_state.fetch_and(~kWriter, std::memory_order_release);
    wake_all();
}

} // namespace vmemu
