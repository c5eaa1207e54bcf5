#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <vmemu/trace/frame_state.hpp>
#include <vmemu/trace/json_string.hpp>
#include <vmemu/trace/latency.hpp>
#include "report_data.hpp"

namespace vmemu::cli {

namespace {

// More frames than any machine has (1 TiB of them): a corrupt frame_state.
constexpr std::uint64_t kMaxFrames = std::uint64_t { 1 } << 28;
// Threads beyond the last index share its lane.
constexpr std::uint16_t kMaxThreads = UINT16_MAX;
constexpr std::array<const char*, 7> kFaultTypes = { "anon", "zero", "cow", "minor", "major", "hinting", "error" };

// Sorts columns of one table by the first, which holds start times; equal starts keep
// their order.
template<typename... Columns>
void sort_by_start(std::vector<double>& starts, Columns&... columns)
{
    std::vector<std::uint32_t> order(starts.size());
    for (std::uint32_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return starts[a] < starts[b]; });
    auto permute = [&](auto& values) {
        auto copy = values;
        for (std::size_t i = 0; i < order.size(); ++i)
            values[i] = copy[order[i]];
    };
    permute(starts);
    (permute(columns), ...);
}

// Gathers the report's data event by event.
class ReportBuilder {
public:
    explicit ReportBuilder(ReportData& data)
        : m_data(data)
    {
    }

    void add(const TraceEvent& event)
    {
        m_data.start_ns = std::min(m_data.start_ns, event.timestamp_ns);
        m_data.end_ns = std::max(m_data.end_ns, event.timestamp_ns);
        auto count = m_data.event_counts.find(event.name);
        if (count == m_data.event_counts.end())
            count = m_data.event_counts.emplace(std::string(event.name), 0).first;
        ++count->second;
        std::string_view name = event.name;
        if (name == "page_fault_exit")
            add_fault(event);
        else if (name == "zone_sample")
            add_zone_sample(event);
        else if (name == "lru_sample")
            fill_sample(event, 1, { "nr_inactive_anon", "nr_active_anon", "nr_inactive_file", "nr_active_file",
                                      "nr_unevictable" });
        else if (name == "vm_event_sample")
            fill_sample(event, 6, { "pswpin", "pswpout", "pgpgin", "pgpgout" });
        else if (name == "frame_state")
            add_frame_state(event);
        else if (name == "mm_vmscan_kswapd_wake" || name == "mm_vmscan_direct_reclaim_begin")
            m_open[{ name == "mm_vmscan_kswapd_wake" ? 0u : 1u, event.tid }] = event.timestamp_ns;
        else if (name == "mm_vmscan_kswapd_sleep")
            close_interval(0, event.tid, event.timestamp_ns);
        else if (name == "mm_vmscan_direct_reclaim_end")
            close_interval(1, event.tid, event.timestamp_ns);
        else if (name == "swap_io_start")
            add_swap_start(event);
        else if (name == "swap_io_done")
            add_swap_done(event);
    }

    void finish()
    {
        if (!m_data.step_ns.empty())
            m_data.step_end.push_back(static_cast<std::uint32_t>(m_data.runs.size() / 3));
        // Events are in the order of their ends: order faults and intervals by their starts.
        sort_by_start(m_data.fault_start_ns, m_data.fault_duration_ns, m_data.fault_type, m_data.fault_thread);
        for (Intervals& intervals : m_data.intervals)
            sort_by_start(intervals.start_ns, intervals.duration_ns);
    }

private:
    void bad_field(const TraceEvent& event, const char* field)
    {
        m_data.problems.add(event.line, std::string(event.name) + " without a valid " + field);
    }

    std::uint16_t thread_index(const TraceEvent& event)
    {
        if (m_data.threads.size() == kMaxThreads && !m_thread_index.contains(event.tid))
            return kMaxThreads - 1;
        auto [at, added] = m_thread_index.try_emplace(event.tid, static_cast<std::uint16_t>(m_data.threads.size()));
        if (added)
            m_data.threads.emplace_back(event.tid, std::string(event.comm));
        return at->second;
    }

    void add_fault(const TraceEvent& event)
    {
        std::uint64_t latency = 0;
        std::string_view type = field_word(event.fields, "type");
        auto kind = std::find(kFaultTypes.begin(), kFaultTypes.end(), type);
        if (!field_value(event.fields, "latency_ns", latency) || kind == kFaultTypes.end())
            return bad_field(event, "type and latency_ns");
        m_data.fault_start_ns.push_back(static_cast<double>(event.timestamp_ns) - static_cast<double>(latency));
        m_data.fault_duration_ns.push_back(static_cast<float>(latency));
        m_data.fault_type.push_back(static_cast<std::uint8_t>(kind - kFaultTypes.begin()));
        m_data.fault_thread.push_back(thread_index(event));
    }

    void add_zone_sample(const TraceEvent& event)
    {
        Watermarks marks {};
        std::uint64_t free = 0;
        if (!field_value(event.fields, "nr_free_pages", free) || !field_value(event.fields, "min", marks.min)
            || !field_value(event.fields, "low", marks.low) || !field_value(event.fields, "high", marks.high))
            return bad_field(event, "nr_free_pages and watermarks");
        if (!m_data.watermarks)
            m_data.watermarks = marks;
        // A zone_sample opens each sample and each frame-map step.
        m_data.sample_ns.push_back(event.timestamp_ns);
        for (auto& series : m_data.series)
            series.push_back(std::nan(""));
        m_data.series[0].back() = static_cast<double>(free);
        if (!m_data.step_ns.empty())
            m_data.step_end.push_back(static_cast<std::uint32_t>(m_data.runs.size() / 3));
        m_data.step_ns.push_back(event.timestamp_ns);
    }

    void fill_sample(const TraceEvent& event, std::size_t first, std::initializer_list<const char*> keys)
    {
        if (m_data.sample_ns.empty())
            return m_data.problems.add(event.line, std::string(event.name) + " before any zone_sample");
        std::size_t index = first;
        for (const char* key : keys) {
            std::uint64_t value = 0;
            if (!field_value(event.fields, key, value))
                return bad_field(event, key);
            m_data.series[index++].back() = static_cast<double>(value);
        }
    }

    void add_frame_state(const TraceEvent& event)
    {
        std::uint64_t pfn = 0;
        std::uint64_t pages = 0;
        if (!field_value(event.fields, "pfn", pfn) || !field_value(event.fields, "nr_pages", pages) || pages == 0
            || pages > kMaxFrames || pfn > kMaxFrames - pages)
            return bad_field(event, "pfn and nr_pages");
        std::string_view name = field_word(event.fields, "state");
        unsigned state = 0;
        while (state < trace::kFrameStates && name != trace::frame_state_name(state))
            ++state;
        if (state == trace::kFrameStates)
            return bad_field(event, "state");
        if (m_data.step_ns.empty())
            return m_data.problems.add(event.line, "frame_state before any zone_sample");
        m_data.frames = std::max<std::size_t>(m_data.frames, pfn + pages);
        m_data.runs.insert(m_data.runs.end(),
            { static_cast<std::uint32_t>(pfn), static_cast<std::uint32_t>(pages), state });
    }

    void close_interval(unsigned kind, std::uint32_t tid, std::uint64_t end_ns)
    {
        auto open = m_open.find({ kind, tid });
        if (open == m_open.end())
            return; // its start was before the trace's
        m_data.intervals[kind].start_ns.push_back(static_cast<double>(open->second));
        m_data.intervals[kind].duration_ns.push_back(static_cast<float>(end_ns - open->second));
        m_open.erase(open);
    }

    void add_swap_start(const TraceEvent& event)
    {
        std::uint64_t pfn = 0;
        std::string_view rw = field_word(event.fields, "rw");
        if (!field_value(event.fields, "pfn", pfn) || (rw != "R" && rw != "W"))
            return bad_field(event, "pfn and rw");
        // One request per frame at a time: the frame is the request's name.
        m_open[{ rw == "R" ? 2u : 3u, static_cast<std::uint32_t>(pfn) }] = event.timestamp_ns;
    }

    void add_swap_done(const TraceEvent& event)
    {
        std::uint64_t pfn = 0;
        std::string_view rw = field_word(event.fields, "rw");
        if (!field_value(event.fields, "pfn", pfn) || (rw != "R" && rw != "W"))
            return bad_field(event, "pfn and rw");
        close_interval(rw == "R" ? 2u : 3u, static_cast<std::uint32_t>(pfn), event.timestamp_ns);
    }

    ReportData& m_data;
    std::unordered_map<std::uint32_t, std::uint16_t> m_thread_index;
    std::map<std::pair<unsigned, std::uint32_t>, std::uint64_t> m_open; // (kind, tid or pfn) → start
};

void write_base64(std::FILE* out, const void* data, std::size_t bytes)
{
    static constexpr char kDigits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const auto* in = static_cast<const unsigned char*>(data);
    std::fputc('"', out);
    for (std::size_t i = 0; i < bytes; i += 3) {
        std::uint32_t chunk = std::uint32_t { in[i] } << 16;
        if (i + 1 < bytes)
            chunk |= std::uint32_t { in[i + 1] } << 8;
        if (i + 2 < bytes)
            chunk |= in[i + 2];
        char text[4] = { kDigits[chunk >> 18], kDigits[(chunk >> 12) & 63], i + 1 < bytes ? kDigits[(chunk >> 6) & 63] : '=',
            i + 2 < bytes ? kDigits[chunk & 63] : '=' };
        std::fwrite(text, 1, 4, out);
    }
    std::fputc('"', out);
}

template<typename T>
void write_typed(std::FILE* out, const std::vector<T>& values)
{
    write_base64(out, values.data(), values.size() * sizeof(T));
}

template<typename T, typename Value>
void write_array(std::FILE* out, const std::vector<T>& values, Value value)
{
    std::fputc('[', out);
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i)
            std::fputc(',', out);
        value(values[i]);
    }
    std::fputc(']', out);
}

} // namespace

std::vector<std::uint8_t> ReportData::frame_map_at(std::uint64_t time_ns) const
{
    std::vector<std::uint8_t> states(frames, static_cast<std::uint8_t>(trace::kFrameStates));
    std::uint32_t begin = 0;
    for (std::size_t step = 0; step < step_ns.size() && step_ns[step] <= time_ns; ++step) {
        for (std::uint32_t run = begin; run < step_end[step]; ++run) {
            const std::uint32_t* triple = &runs[run * 3];
            std::fill_n(states.begin() + triple[0], triple[1], static_cast<std::uint8_t>(triple[2]));
        }
        begin = step_end[step];
    }
    return states;
}

ReportData build_report(std::string_view trace_text, std::string title)
{
    ReportData data;
    data.title = std::move(title);
    ReportBuilder builder(data);
    TraceReadResult read = read_ftrace(trace_text, [&](const TraceEvent& event) { builder.add(event); });
    builder.finish();
    data.lines = read.lines;
    data.histograms = std::move(read.histograms);
    // The reader's problems come first: they say where the trace breaks.
    TraceProblems problems = std::move(read.problems);
    for (const std::string& problem : data.problems.first)
        if (problems.first.size() < TraceProblems::kKept)
            problems.first.push_back(problem);
    problems.count += data.problems.count;
    data.problems = std::move(problems);
    if (data.start_ns == UINT64_MAX)
        data.start_ns = data.end_ns = 0;
    return data;
}

void write_report_json(std::FILE* out, const ReportData& data)
{
    auto relative = [&](auto time) { return static_cast<double>(time) - static_cast<double>(data.start_ns); };
    auto number = [&](double value) {
        if (std::isnan(value))
            std::fputs("null", out);
        else
            std::fprintf(out, "%.17g", value);
    };
    std::fputs("{\"version\":1,\"title\":", out);
    trace::print_json_string(out, data.title);
    std::fprintf(out, ",\"duration_ns\":%" PRIu64 ",\"frames\":%zu,\"states\":[", data.end_ns - data.start_ns,
        data.frames);
    for (unsigned state = 0; state < trace::kFrameStates; ++state)
        std::fprintf(out, "%s\"%s\"", state ? "," : "", trace::frame_state_name(state));
    std::fputs("],\"watermarks\":", out);
    if (data.watermarks)
        std::fprintf(out, "{\"min\":%" PRIu64 ",\"low\":%" PRIu64 ",\"high\":%" PRIu64 "}", data.watermarks->min,
            data.watermarks->low, data.watermarks->high);
    else
        std::fputs("null", out);

    std::fputs(",\n\"samples\":{\"t\":", out);
    write_array(out, data.sample_ns, [&](std::uint64_t t) { number(relative(t)); });
    for (std::size_t i = 0; i < ReportData::kSeries.size(); ++i) {
        std::fprintf(out, ",\"%s\":", ReportData::kSeries[i]);
        write_array(out, data.series[i], number);
    }
    std::fputs("},\n\"frame_map\":{\"t\":", out);
    write_array(out, data.step_ns, [&](std::uint64_t t) { number(relative(t)); });
    std::fputs(",\"runs_b64\":", out);
    write_typed(out, data.runs);
    std::fputs(",\"step_end\":", out);
    write_array(out, data.step_end, [&](std::uint32_t end) { std::fprintf(out, "%u", end); });

    std::fputs("},\n\"histograms\":[", out);
    for (std::size_t i = 0; i < data.histograms.size(); ++i) {
        const TraceHistogram& histogram = data.histograms[i];
        std::string title = histogram.name;
        for (unsigned kind = 0; kind < trace::kLatencyKinds; ++kind) {
            if (histogram.name == trace::latency_name(static_cast<trace::Latency>(kind)))
                title = trace::latency_title(static_cast<trace::Latency>(kind));
        }
        std::fprintf(out, "%s{\"name\":", i ? "," : "");
        trace::print_json_string(out, histogram.name);
        std::fputs(",\"title\":", out);
        trace::print_json_string(out, title);
        std::fputs(",\"buckets\":[", out);
        for (std::size_t k = 0; k < histogram.buckets.size(); ++k)
            std::fprintf(out, "%s%" PRIu64, k ? "," : "", histogram.buckets[k]);
        std::fputs("]}", out);
    }
    std::fputs("],\n\"threads\":[", out);
    for (std::size_t i = 0; i < data.threads.size(); ++i) {
        std::fprintf(out, "%s{\"tid\":%u,\"comm\":", i ? "," : "", data.threads[i].first);
        trace::print_json_string(out, data.threads[i].second);
        std::fputc('}', out);
    }
    std::vector<double> fault_starts(data.fault_start_ns.size());
    for (std::size_t i = 0; i < fault_starts.size(); ++i)
        fault_starts[i] = relative(data.fault_start_ns[i]);
    std::fprintf(out, "],\n\"faults\":{\"count\":%zu,\"t_b64\":", fault_starts.size());
    write_typed(out, fault_starts);
    std::fputs(",\"dur_b64\":", out);
    write_typed(out, data.fault_duration_ns);
    std::fputs(",\"type_b64\":", out);
    write_typed(out, data.fault_type);
    std::fputs(",\"thread_b64\":", out);
    write_typed(out, data.fault_thread);
    std::fputs("},\n\"fault_types\":[", out);
    for (std::size_t i = 0; i < kFaultTypes.size(); ++i)
        std::fprintf(out, "%s\"%s\"", i ? "," : "", kFaultTypes[i]);
    std::fputs("],\n\"intervals\":[", out);
    for (std::size_t i = 0; i < data.intervals.size(); ++i) {
        const Intervals& intervals = data.intervals[i];
        std::vector<double> starts(intervals.start_ns.size());
        for (std::size_t k = 0; k < starts.size(); ++k)
            starts[k] = relative(intervals.start_ns[k]);
        std::fprintf(out, "%s{\"name\":\"%s\",\"count\":%zu,\"t_b64\":", i ? "," : "", intervals.name, starts.size());
        write_typed(out, starts);
        std::fputs(",\"dur_b64\":", out);
        write_typed(out, intervals.duration_ns);
        std::fputc('}', out);
    }
    std::fputs("],\n\"event_counts\":{", out);
    bool first = true;
    for (const auto& [name, count] : data.event_counts) {
        std::fputs(first ? "" : ",", out);
        first = false;
        trace::print_json_string(out, name);
        std::fprintf(out, ":%" PRIu64, count);
    }
    std::fputs("},\n\"problems\":[", out);
    for (std::size_t i = 0; i < data.problems.first.size(); ++i) {
        std::fputs(i ? "," : "", out);
        trace::print_json_string(out, data.problems.first[i]);
    }
    if (data.problems.count > data.problems.first.size()) {
        std::fputs(data.problems.first.empty() ? "" : ",", out);
        trace::print_json_string(out, "and " + std::to_string(data.problems.count - data.problems.first.size()) + " more");
    }
    std::fputs("]}", out);
}

} // namespace vmemu::cli
