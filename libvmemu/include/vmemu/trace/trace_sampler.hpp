#pragma once
// The sampler of a traced Machine: a thread of vmemu's own that, every interval while events
// are recorded, puts into the trace
//   zone_sample      free frames against the min/low/high watermarks, and the swap cache;
//   lru_sample       the sizes of the five LRU lists;
//   vm_event_sample  pswpin, pswpout, pgpgin, pgpgout and pgmajfault so far;
//   frame_state      each run of frames whose state (frame_state.hpp) changed since the last
//                    sample; the first sample has every frame.
// From these the report draws the frame map, the watermark and LRU charts and swap traffic.
// Invariants: m_states holds the state of each frame as the trace of m_session last said it.
// One sampler at a time in a process: the trace has one sample log.
// Locking: none; it reads atomics and frame descriptors as snapshots, as /proc does. Only
// the sampler's thread samples while it runs; the destructor samples once more, last.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vmemu/base/periodic_thread.hpp>
#include <vmemu/base/vm_error.hpp>

namespace vmemu {

class Machine;

class TraceSampler {
public:
    // EBUSY when another machine of the process is sampled.
    static VmResult<std::unique_ptr<TraceSampler>> start(Machine& machine, std::chrono::milliseconds interval);
    // Stops the thread, then takes the last sample, so that the trace ends with the state at
    // the end.
    ~TraceSampler();
    TraceSampler(const TraceSampler&) = delete;
    TraceSampler& operator=(const TraceSampler&) = delete;

    // In a child of fork(): the thread is the parent's; forget it without touching it.
    void forget_thread_in_child();

private:
    TraceSampler(Machine& machine, std::chrono::milliseconds interval);
    void sample();

    Machine& m_machine;
    std::unique_ptr<std::uint8_t[]> m_states;
    std::uint64_t m_session { 0 };
    std::optional<PeriodicThread> m_thread; // last: it samples until it is gone
};

} // namespace vmemu
