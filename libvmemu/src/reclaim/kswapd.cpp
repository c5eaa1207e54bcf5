#include <csignal>
#include <new>
#include <sched.h>
#include <pthread.h>
#include <vmemu/base/thread_role.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/futex.hpp>
#include <vmemu/reclaim/kswapd.hpp>
#include <vmemu/reclaim/vmscan.hpp>
#include <vmemu/trace/tracepoint.hpp>

namespace vmemu {

Kswapd::Kswapd(Machine& machine)
    : m_machine(machine)
{
    start();
}

void Kswapd::restart_in_child()
{
    // The inherited handle names a thread of the parent: forget it without touching it.
    new (&m_thread) std::thread();
    m_sleeping.store(false, std::memory_order_relaxed);
    m_balancing.store(false, std::memory_order_relaxed);
    // The child may well exec at once: it reclaims when an allocation wakes kswapd, not before.
    m_sleep_first = true;
    start();
}

void Kswapd::start()
{
    m_thread = start_vmemu_thread("vmemu-kswapd", [this] { run(); });
}

Kswapd::~Kswapd()
{
    m_stop.store(true, std::memory_order_release);
    wake();
    m_thread.join();
}

void Kswapd::wake()
{
    m_wakeups.fetch_add(1, std::memory_order_seq_cst);
    // While kswapd works, the faults that call this cost no system call.
    if (m_sleeping.load(std::memory_order_seq_cst))
        os::futex_wake(m_wakeups, 1);
}

void Kswapd::pause()
{
    m_paused.fetch_add(1, std::memory_order_seq_cst);
    while (m_balancing.load(std::memory_order_seq_cst))
        sched_yield();
}

void Kswapd::resume()
{
    m_paused.fetch_sub(1, std::memory_order_acq_rel);
    wake();
}

void Kswapd::run()
{
    const Watermarks& marks = m_machine.page_allocator().watermarks();
    if (m_sleep_first) {
        std::uint32_t seen = m_wakeups.load(std::memory_order_acquire);
        m_sleeping.store(true, std::memory_order_seq_cst);
        os::futex_wait(m_wakeups, seen);
        m_sleeping.store(false, std::memory_order_seq_cst);
    }
    while (!m_stop.load(std::memory_order_acquire)) {
        std::uint32_t seen = m_wakeups.load(std::memory_order_acquire);
        bool below_low = m_machine.free_frames() < marks.low;
        m_balancing.store(true, std::memory_order_seq_cst);
        if (below_low && m_paused.load(std::memory_order_seq_cst) == 0) {
            m_runs.fetch_add(1, std::memory_order_relaxed);
            trace::emit(trace::Event::KswapdWake);
            // balance_pgdat(): up to the high watermark, in SWAP_CLUSTER_MAX batches.
            while (m_machine.free_frames() < marks.high && !m_stop.load(std::memory_order_acquire)
                && m_paused.load(std::memory_order_acquire) == 0) {
                SwapState* swap = m_machine.swap();
                std::uint32_t completions = swap ? swap->device().completions() : 0;
                std::size_t progress = m_machine.vmscan().shrink_node(Vmscan::kSwapClusterMax, ReclaimMode::Kswapd);
                if (progress == 0)
                    break; // nothing reclaimable: sleep until woken again
                // Let the writeback catch up rather than unmapping ever more pages.
                if (m_machine.free_frames() < marks.high && swap
                    && swap->device().in_flight() > 4 * Vmscan::kSwapClusterMax)
                    swap->device().wait_for_completion(completions);
            }
        }
        if (below_low && m_paused.load(std::memory_order_relaxed) == 0)
            trace::emit(trace::Event::KswapdSleep);
        m_balancing.store(false, std::memory_order_seq_cst);
        m_sleeping.store(true, std::memory_order_seq_cst);
        os::futex_wait(m_wakeups, seen); // returns at once if woken meanwhile
        m_sleeping.store(false, std::memory_order_seq_cst);
    }
}

} // namespace vmemu
