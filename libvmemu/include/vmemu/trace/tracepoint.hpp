#pragma once
// Tracepoints, as the kernel's: each event has the kernel's subsystem, name and field format
// (kmem:mm_page_alloc, vmscan:mm_vmscan_kswapd_wake, ...), and vmemu's own events (the
// page-fault exit with its type and latency, swap I/O) are in the same style. Recording is
// async-signal-safe and lock-free: each thread writes its own ring, preallocated when tracing
// starts, with a reservation by fetch_add so that a fault handler interrupting the thread's
// own event still gets a slot of its own. When tracing is off, a tracepoint costs one relaxed
// load of a global flag; a build with VMEMU_NO_TRACEPOINTS compiles them out altogether.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vmemu/base/vm_error.hpp>

namespace vmemu::trace {

enum class Event : std::uint16_t {
    PageFaultUser,      // exceptions:page_fault_user: the fault's entry
    PageFaultExit,      // vmemu:page_fault_exit: its type and latency
    MmPageAlloc,        // kmem:mm_page_alloc
    MmPageFree,         // kmem:mm_page_free
    KswapdWake,         // vmscan:mm_vmscan_kswapd_wake
    KswapdSleep,        // vmscan:mm_vmscan_kswapd_sleep
    DirectReclaimBegin, // vmscan:mm_vmscan_direct_reclaim_begin
    DirectReclaimEnd,   // vmscan:mm_vmscan_direct_reclaim_end
    LruIsolate,         // vmscan:mm_vmscan_lru_isolate
    LruShrinkInactive,  // vmscan:mm_vmscan_lru_shrink_inactive
    LruShrinkActive,    // vmscan:mm_vmscan_lru_shrink_active
    WriteFolio,         // vmscan:mm_vmscan_write_folio
    SwapReadFolio,      // vmemu:swap_read_folio
    SwapWriteDone,      // vmemu:swap_write_end: a swap write's completion
    FilemapAddToPageCache,      // filemap:mm_filemap_add_to_page_cache
    FilemapDeleteFromPageCache, // filemap:mm_filemap_delete_from_page_cache
    SwapIoStart,                // vmemu:swap_io_start: a request of the swap device submitted
    SwapIoDone,                 // vmemu:swap_io_done: its completion, with its latency
    ZoneSample,                 // vmemu:zone_sample: free frames and the watermarks, sampled
    LruSample,                  // vmemu:lru_sample: the sizes of the LRU lists, sampled
    VmEventSample,              // vmemu:vm_event_sample: swap and paging counters, sampled
    FrameState,                 // vmemu:frame_state: a run of frames whose state changed
    Count,
};
inline constexpr unsigned kEventKinds = static_cast<unsigned>(Event::Count);
static_assert(kEventKinds <= 64, "set_event_filter() keeps one bit per event");

// The type of a fault, for page_fault_exit.
enum class FaultType : std::uint8_t {
    Anonymous, // a fresh zeroed frame
    ZeroPage,  // a read mapped the zero page
    Cow,       // a write to a read-only page: copy, or reuse
    Minor,     // a swap fault served by the swap cache
    Major,     // a swap fault that waited for a read
    Hinting,   // the page was resident: reclaim had taken it out of the hardware view
    Error,     // SIGSEGV or SIGBUS
};

// The fields of one event, as integers; the event's format says what each is.
struct Record {
    std::uint64_t sequence; // written last: the slot's index + 1 when the record is whole
    std::uint64_t timestamp_ns;
    std::uint16_t event;
    std::uint16_t cpu;
    std::uint32_t reserved;
    std::uint64_t args[5];
};
static_assert(sizeof(Record) == 64);

namespace detail {
// What is on: the event rings, the latency histograms (latency.hpp), or both.
inline constexpr std::uint8_t kEvents = 1;
inline constexpr std::uint8_t kHistograms = 2;
extern std::atomic<std::uint8_t> g_mode;
// The events set_event_filter() lets through, one bit each.
extern std::atomic<std::uint64_t> g_event_mask;
void record(Event event, std::uint64_t a0, std::uint64_t a1, std::uint64_t a2, std::uint64_t a3,
    std::uint64_t a4) noexcept;
// Set by a fault that waited for a read, for its page_fault_exit.
inline thread_local bool t_major_fault __attribute__((tls_model("initial-exec"))) = false;
} // namespace detail

// The inline half of the tracepoints differs in a VMEMU_NO_TRACEPOINTS build, which bench/
// links beside the normal one: it lives in a namespace of its own there.
#ifdef VMEMU_NO_TRACEPOINTS
inline namespace compiled_out {
#else
inline namespace compiled_in {
#endif

// Whether events are being recorded.
inline bool enabled() noexcept
{
#ifdef VMEMU_NO_TRACEPOINTS
    return false;
#else
    return detail::g_mode.load(std::memory_order_relaxed) & detail::kEvents;
#endif
}

// Whether events or latencies are being recorded: the fault path times itself only then.
inline bool measuring() noexcept
{
#ifdef VMEMU_NO_TRACEPOINTS
    return false;
#else
    return detail::g_mode.load(std::memory_order_relaxed) != 0;
#endif
}

// The fault path marks a fault that waited for a swap read, for its page_fault_exit.
inline void note_major_fault() noexcept { detail::t_major_fault = true; }

inline void emit([[maybe_unused]] Event event, [[maybe_unused]] std::uint64_t a0 = 0,
    [[maybe_unused]] std::uint64_t a1 = 0, [[maybe_unused]] std::uint64_t a2 = 0,
    [[maybe_unused]] std::uint64_t a3 = 0, [[maybe_unused]] std::uint64_t a4 = 0) noexcept
{
#ifndef VMEMU_NO_TRACEPOINTS
    if (enabled()) [[unlikely]]
        detail::record(event, a0, a1, a2, a3, a4);
#endif
}

} // inline namespace

// CLOCK_MONOTONIC in nanoseconds, the trace clock. Async-signal-safe.
std::uint64_t now_ns() noexcept;

// Starts recording into rings of events_per_thread records (rounded up to a power of two)
// for each of up to max_threads threads; a full ring overwrites its oldest records, as
// ftrace's overwrite mode does. EINVAL for zero sizes; ENOMEM when the rings cannot be
// mapped; EBUSY when tracing is on already.
VmResult<void> start(std::size_t events_per_thread = std::size_t { 1 } << 16, std::size_t max_threads = 256);
// Stops recording; the events stay until the next start().
void stop();
// Which start() the events since are from: it changes at each start().
std::uint64_t session();
// Records only the events a comma-separated list names, each as "name", "subsystem:name",
// "subsystem:*" or "subsystem" ("kmem:mm_page_alloc,vmscan"); an empty list or "all" names
// them all. EINVAL, changing nothing, for a name no event has: known_event_names() lists them.
VmResult<void> set_event_filter(const char* list);
// "exceptions:page_fault_user vmemu:page_fault_exit kmem:mm_page_alloc ..."
std::string known_event_names();
// The trace as /sys/kernel/tracing/trace prints it: the header, then one line per event in
// time order ("comm-pid [cpu] flags seconds.micros: event: fields").
void write_ftrace(std::FILE* out);
// The trace in the Chrome/Perfetto JSON trace format: each thread's faults as slices, reclaim
// and swap I/O as slices and async slices, the samples as counters, the other events as
// instants with their ftrace fields, and the latency histograms in the metadata.
void write_chrome_json(std::FILE* out);
// Records an event of the sampler (TraceSampler): into a log of its own that keeps every
// record, rather than into a ring. Takes a lock; not async-signal-safe.
void record_sample(Event event, std::uint64_t a0 = 0, std::uint64_t a1 = 0, std::uint64_t a2 = 0,
    std::uint64_t a3 = 0, std::uint64_t a4 = 0);
// Events recorded, and events lost (overwritten, or from threads beyond max_threads).
std::uint64_t events_recorded();
std::uint64_t events_lost();

} // namespace vmemu::trace
