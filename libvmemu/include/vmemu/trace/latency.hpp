#pragma once
// Latency histograms, log2 as bcc's funclatency draws them: bucket k counts the latencies in
// [2^k, 2^(k+1) - 1] nanoseconds (bucket 0 also counts 0). One histogram for each of the
// latencies that say how memory management feels to a program: minor and major faults, page
// allocation and freeing, direct reclaim and swap I/O.
// Recording is async-signal-safe: relaxed atomic adds into static counters. It is off until
// start_histograms(); tracepoint.hpp's measuring() says whether the fault path times itself.
#include <array>
#include <cstdint>
#include <cstdio>
#include <vmemu/trace/tracepoint.hpp>

namespace vmemu::trace {

enum class Latency : std::uint8_t {
    MinorFault,    // a fault served without waiting for I/O
    MajorFault,    // a fault that waited for a swap or file read
    PageAlloc,     // alloc_pages(), with the direct reclaim it did
    PageFree,      // __free_pages(): back to the buddy, merging
    DirectReclaim, // one direct reclaim, from begin to end
    SwapIo,        // a swap device request, from submission to completion
    Count,
};
inline constexpr unsigned kLatencyKinds = static_cast<unsigned>(Latency::Count);

struct LatencyHistogram {
    static constexpr unsigned kBuckets = 64;
    std::array<std::uint64_t, kBuckets> buckets {};
    std::uint64_t count { 0 };
    std::uint64_t total_ns { 0 };

    static unsigned bucket_of(std::uint64_t ns) noexcept;
    // The lowest and highest latency bucket k counts.
    static std::uint64_t low(unsigned bucket) { return bucket == 0 ? 0 : std::uint64_t { 1 } << bucket; }
    static std::uint64_t high(unsigned bucket)
    {
        return bucket == 63 ? UINT64_MAX : (std::uint64_t { 1 } << (bucket + 1)) - 1;
    }
};

namespace detail {
void record_latency(Latency kind, std::uint64_t ns) noexcept;
} // namespace detail

#ifdef VMEMU_NO_TRACEPOINTS
inline namespace compiled_out {
#else
inline namespace compiled_in {
#endif
inline void record_latency([[maybe_unused]] Latency kind, [[maybe_unused]] std::uint64_t ns) noexcept
{
#ifndef VMEMU_NO_TRACEPOINTS
    if (detail::g_mode.load(std::memory_order_relaxed) & detail::kHistograms) [[unlikely]]
        detail::record_latency(kind, ns);
#endif
}
} // inline namespace

// Clears the histograms and starts recording; stop_histograms() stops, and keeps them.
void start_histograms();
void stop_histograms();
LatencyHistogram latency_histogram(Latency kind);
// "minor_fault", and "minor faults" for titles.
const char* latency_name(Latency kind);
const char* latency_title(Latency kind);
// Each histogram that counted something, as funclatency prints it:
//        nsecs               : count     distribution
//          256 -> 511          : 1201     |****************************************|
void write_histograms(std::FILE* out, const char* line_prefix = "");

} // namespace vmemu::trace
