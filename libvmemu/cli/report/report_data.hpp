#pragma once
// What `vmemu report` draws, gathered from a trace: the sampler's series and frame map, each
// fault, the intervals of reclaim and swap I/O, the threads, the event counts and the latency
// histograms; and written as the JSON the report page reads.
// Invariants: every time is absolute (the trace clock) until written, where it becomes ns
// since start_ns. Frame map step i's runs are runs[step_end[i-1] .. step_end[i]) triples.
#include <array>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>
#include "trace_reader.hpp"

namespace vmemu::cli {

struct Watermarks {
    std::uint64_t min, low, high;
};

struct Intervals {
    const char* name;
    std::vector<double> start_ns;
    std::vector<float> duration_ns;
};

struct ReportData {
    static constexpr std::array<const char*, 10> kSeries = { "nr_free_pages", "nr_inactive_anon",
        "nr_active_anon", "nr_inactive_file", "nr_active_file", "nr_unevictable", "pswpin", "pswpout", "pgpgin",
        "pgpgout" };

    std::string title;
    std::uint64_t start_ns { UINT64_MAX };
    std::uint64_t end_ns { 0 };
    std::size_t lines { 0 };
    std::size_t frames { 0 };
    std::optional<Watermarks> watermarks;

    std::vector<std::uint64_t> sample_ns;
    std::array<std::vector<double>, kSeries.size()> series;

    std::vector<std::uint64_t> step_ns;
    std::vector<std::uint32_t> runs; // (first pfn, pages, state) triples
    std::vector<std::uint32_t> step_end;

    std::vector<double> fault_start_ns;
    std::vector<float> fault_duration_ns;
    std::vector<std::uint8_t> fault_type;
    std::vector<std::uint16_t> fault_thread;

    std::vector<std::pair<std::uint32_t, std::string>> threads;
    std::array<Intervals, 4> intervals { Intervals { "kswapd", {}, {} }, Intervals { "direct reclaim", {}, {} },
        Intervals { "swap in", {}, {} }, Intervals { "swap out", {}, {} } };
    std::map<std::string, std::uint64_t, std::less<>> event_counts;
    std::vector<TraceHistogram> histograms;
    TraceProblems problems;

    // The state of every frame at time_ns (absolute), from the steps up to it.
    std::vector<std::uint8_t> frame_map_at(std::uint64_t time_ns) const;
};

ReportData build_report(std::string_view trace_text, std::string title);
// The data as JSON, safe inside a <script> element ('<' is escaped).
void write_report_json(std::FILE* out, const ReportData& data);

} // namespace vmemu::cli
