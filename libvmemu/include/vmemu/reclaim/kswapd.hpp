#pragma once
#include <atomic>
#include <cstdint>
#include <thread>

namespace vmemu {

class Machine;

// kswapd: a thread per Machine that sleeps until free frames fall below the low watermark,
// then reclaims until they reach the high one (balance_pgdat()), and sleeps again.
// Locking: woken through a futex word, from any context, the fault path included.
class Kswapd {
public:
    explicit Kswapd(Machine& machine);
    ~Kswapd();
    Kswapd(const Kswapd&) = delete;
    Kswapd& operator=(const Kswapd&) = delete;

    // wakeup_kswapd(): async-signal-safe.
    void wake();
    // Pauses reclaim by kswapd, waiting for a batch in progress to end (tests use it to make
    // reclaim deterministic).
    void pause();
    void resume();
    // resume() without waking kswapd: it runs when an allocation next wakes it.
    void resume_quietly() { m_paused.fetch_sub(1, std::memory_order_acq_rel); }
    // In a child of fork(), which has no kswapd thread: starts one. Call it paused.
    void restart_in_child();
    std::uint64_t runs() const { return m_runs.load(std::memory_order_relaxed); }

private:
    void start();
    void run();

    Machine& m_machine;
    std::atomic<std::uint32_t> m_wakeups { 0 };
    std::atomic<bool> m_sleeping { false };
    std::atomic<bool> m_stop { false };
    std::atomic<int> m_paused { 0 };
    std::atomic<bool> m_balancing { false };
    std::atomic<std::uint64_t> m_runs { 0 };
    bool m_sleep_first { false }; // set before the thread starts
    std::thread m_thread;
};

// Pauses kswapd for a scope, like Zircon's scanner pause guard.
class ScopedReclaimPause {
public:
    explicit ScopedReclaimPause(Kswapd& kswapd)
        : m_kswapd(kswapd)
    {
        m_kswapd.pause();
    }
    ~ScopedReclaimPause() { m_kswapd.resume(); }
    ScopedReclaimPause(const ScopedReclaimPause&) = delete;
    ScopedReclaimPause& operator=(const ScopedReclaimPause&) = delete;

private:
    Kswapd& m_kswapd;
};

} // namespace vmemu
