#pragma once
// A thread of vmemu's own (start_vmemu_thread()) that calls a function every interval until
// it is stopped: the trace sampler's and the stats publisher's. The function runs first at
// once, then after each interval; stop() wakes the thread and joins it.
// Locking: none; m_stop is the futex word the thread sleeps on.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>

namespace vmemu {

class PeriodicThread {
public:
    PeriodicThread(const char* name, std::chrono::milliseconds interval, std::function<void()> body);
    ~PeriodicThread() { stop(); }
    PeriodicThread(const PeriodicThread&) = delete;
    PeriodicThread& operator=(const PeriodicThread&) = delete;

    // Returns once the thread has ended; the function is not running then.
    void stop();
    // In a child of fork(): the thread is the parent's; forget it without touching it.
    void forget_in_child();

private:
    std::atomic<std::uint32_t> m_stop { 0 };
    std::thread m_thread;
};

} // namespace vmemu
