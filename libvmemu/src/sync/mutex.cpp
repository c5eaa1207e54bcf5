#include <vmemu/os/futex.hpp>
#include <vmemu/sync/mutex.hpp>

namespace vmemu {

void Mutex::lock_contended()
{
    // Spin briefly: the holder is usually in a short critical section or one system call.
    std::uint32_t state = 0;
    for (int spin = 0; spin < 100; ++spin) {
        os::cpu_relax();
        state = 0;
        if (m_state.load(std::memory_order_relaxed) == 0
            && m_state.compare_exchange_strong(state, 1, std::memory_order_acquire))
            return;
    }
    if (state != 2)
        state = m_state.exchange(2, std::memory_order_acquire);
    while (state != 0) {
        os::futex_wait(m_state, 2);
        state = m_state.exchange(2, std::memory_order_acquire);
    }
}

} // namespace vmemu
