#pragma once
// Reads a trace in ftrace's text format, as vmemu writes it (trace::write_ftrace()): one call
// of on_event per event line, the latency histograms from the comment lines at the end, and
// a description of each line that is not what the format says, so that a report can say
// where a truncated or corrupt trace breaks and draw what it can.
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace vmemu::cli {

struct TraceEvent {
    std::string_view comm;
    std::uint32_t tid;
    std::uint64_t timestamp_ns; // microseconds in the text: ftrace prints no finer
    std::string_view name;
    std::string_view fields; // "key=value key=value ..."
    std::size_t line;
};

struct TraceHistogram {
    std::string name; // "minor_fault"
    std::array<std::uint64_t, 64> buckets {};
};

struct TraceProblems {
    static constexpr std::size_t kKept = 20;
    std::vector<std::string> first; // the first kKept, as "line N: what"
    std::size_t count { 0 };

    void add(std::size_t line, const std::string& what);
};

struct TraceReadResult {
    std::size_t lines { 0 };
    std::size_t events { 0 };
    std::vector<TraceHistogram> histograms;
    TraceProblems problems;
};

// Reads the whole of text. A line that is not an event nor a comment is a problem; so is a
// last line without its newline.
TraceReadResult read_ftrace(std::string_view text, const std::function<void(const TraceEvent&)>& on_event);

// The value of key in an event's fields ("pfn=0x1f" → 31; decimal or 0x hex), or false.
bool field_value(std::string_view fields, std::string_view key, std::uint64_t& value);
// The word value of key ("state=anon_active" → "anon_active"), or "".
std::string_view field_word(std::string_view fields, std::string_view key);

} // namespace vmemu::cli
