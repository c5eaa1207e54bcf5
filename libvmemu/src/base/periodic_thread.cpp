#include <vmemu/base/periodic_thread.hpp>
#include <vmemu/base/thread_role.hpp>
#include <vmemu/os/futex.hpp>

namespace vmemu {

PeriodicThread::PeriodicThread(const char* name, std::chrono::milliseconds interval, std::function<void()> body)
{
    m_thread = start_vmemu_thread(name, [this, interval, body = std::move(body)] {
        while (m_stop.load(std::memory_order_acquire) == 0) {
            body();
            os::futex_wait_for(m_stop, 0, static_cast<unsigned>(interval.count()));
        }
    });
}

void PeriodicThread::stop()
{
    m_stop.store(1, std::memory_order_release);
    os::futex_wake(m_stop, 1);
    if (m_thread.joinable())
        m_thread.join();
}

void PeriodicThread::forget_in_child() { new (&m_thread) std::thread(); }

} // namespace vmemu
