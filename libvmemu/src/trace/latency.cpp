// The latency histograms: static counters, so that recording needs no set-up and no memory.
#include <algorithm>
#include <bit>
#include <cinttypes>
#include <vmemu/trace/latency.hpp>

namespace vmemu::trace {

namespace {
struct Counters {
    std::atomic<std::uint64_t> buckets[LatencyHistogram::kBuckets];
    std::atomic<std::uint64_t> total_ns;
};
Counters g_counters[kLatencyKinds];

constexpr const char* kNames[kLatencyKinds] = { "minor_fault", "major_fault", "page_alloc", "page_free",
    "direct_reclaim", "swap_io" };
constexpr const char* kTitles[kLatencyKinds] = { "minor faults", "major faults", "page allocation",
    "page freeing", "direct reclaim", "swap I/O" };
} // namespace

unsigned LatencyHistogram::bucket_of(std::uint64_t ns) noexcept
{
    return ns < 2 ? 0 : static_cast<unsigned>(std::bit_width(ns) - 1);
}

void detail::record_latency(Latency kind, std::uint64_t ns) noexcept
{
    Counters& counters = g_counters[static_cast<unsigned>(kind)];
    counters.buckets[LatencyHistogram::bucket_of(ns)].fetch_add(1, std::memory_order_relaxed);
    counters.total_ns.fetch_add(ns, std::memory_order_relaxed);
}

void start_histograms()
{
    for (Counters& counters : g_counters) {
        for (auto& bucket : counters.buckets)
            bucket.store(0, std::memory_order_relaxed);
        counters.total_ns.store(0, std::memory_order_relaxed);
    }
    detail::g_mode.fetch_or(detail::kHistograms, std::memory_order_release);
}

void stop_histograms()
{
    detail::g_mode.fetch_and(static_cast<std::uint8_t>(~detail::kHistograms), std::memory_order_release);
}

LatencyHistogram latency_histogram(Latency kind)
{
    const Counters& counters = g_counters[static_cast<unsigned>(kind)];
    LatencyHistogram histogram;
    for (unsigned k = 0; k < LatencyHistogram::kBuckets; ++k) {
        histogram.buckets[k] = counters.buckets[k].load(std::memory_order_relaxed);
        histogram.count += histogram.buckets[k];
    }
    histogram.total_ns = counters.total_ns.load(std::memory_order_relaxed);
    return histogram;
}

const char* latency_name(Latency kind) { return kNames[static_cast<unsigned>(kind)]; }
const char* latency_title(Latency kind) { return kTitles[static_cast<unsigned>(kind)]; }

void write_histograms(std::FILE* out, const char* prefix)
{
    for (unsigned kind = 0; kind < kLatencyKinds; ++kind) {
        LatencyHistogram histogram = latency_histogram(static_cast<Latency>(kind));
        if (histogram.count == 0)
            continue;
        unsigned first = 0;
        while (histogram.buckets[first] == 0)
            ++first;
        unsigned last = LatencyHistogram::kBuckets - 1;
        while (histogram.buckets[last] == 0)
            --last;
        std::uint64_t peak = *std::max_element(histogram.buckets.begin(), histogram.buckets.end());
        std::fprintf(out, "%s%s: %" PRIu64 " in all, average %" PRIu64 " nsecs\n", prefix, kNames[kind],
            histogram.count, histogram.total_ns / histogram.count);
        std::fprintf(out, "%s%*s : count     distribution\n", prefix, 24, "nsecs");
        for (unsigned k = first; k <= last; ++k) {
            // funclatency's bar: 40 stars for the fullest bucket.
            int stars = static_cast<int>(histogram.buckets[k] * 40 / peak);
            std::fprintf(out, "%s%12" PRIu64 " -> %-12" PRIu64 " : %-9" PRIu64 "|%.*s%*s|\n", prefix,
                LatencyHistogram::low(k), LatencyHistogram::high(k), histogram.buckets[k], stars,
                "****************************************", 40 - stars, "");
        }
        std::fprintf(out, "%s\n", prefix);
    }
}

} // namespace vmemu::trace
