// The trace in the Chrome trace event format (JSON object form), which Perfetto's UI and
// chrome://tracing open:
//   page faults     a complete slice ("X") on the faulting thread, named by the fault's type;
//   kswapd          a slice from mm_vmscan_kswapd_wake to mm_vmscan_kswapd_sleep;
//   direct reclaim  a slice from _begin to _end on the reclaiming thread;
//   swap I/O        an async slice per page in flight, from swap_io_start to swap_io_done;
//   the samples     counters: free frames and watermarks, LRU sizes, swap counters;
//   the others      instants, with their ftrace fields.
// frame_state runs are left out (the report draws them); the latency histograms are in
// "otherData".
#include <cinttypes>
#include <set>
#include <unistd.h>
#include <vmemu/trace/json_string.hpp>
#include <vmemu/trace/latency.hpp>
#include <vmemu/trace/tracepoint.hpp>
#include "event_format.hpp"
#include "trace_buffer.hpp"

namespace vmemu::trace {

namespace {

// Microseconds, with the nanoseconds as decimals: the format's unit.
void print_us(std::FILE* out, std::uint64_t ns) { std::fprintf(out, "%" PRIu64 ".%03" PRIu64, ns / 1000, ns % 1000); }

class JsonEvents {
public:
    JsonEvents(std::FILE* out, int pid)
        : m_out(out)
        , m_pid(pid)
    {
    }

    // The start of an event object, through "ts".
    void begin(const char* name, const char* category, char phase, std::uint32_t tid, std::uint64_t ns)
    {
        std::fprintf(m_out, "%s\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"%c\",\"pid\":%d,\"tid\":%u,\"ts\":",
            m_first ? "" : ",", name, category, phase, m_pid, tid);
        m_first = false;
        print_us(m_out, ns);
    }
    void end() { std::fputc('}', m_out); }
    std::FILE* out() { return m_out; }

private:
    std::FILE* m_out;
    int m_pid;
    bool m_first { true };
};

void write_event(JsonEvents& json, const TraceLine& line)
{
    std::FILE* out = json.out();
    const Record& record = line.record;
    const std::uint64_t* a = record.args;
    auto event = static_cast<Event>(record.event);
    switch (event) {
    case Event::PageFaultUser:
        return; // the slice of its page_fault_exit covers it
    case Event::PageFaultExit: {
        std::uint64_t start = record.timestamp_ns - std::min(a[2], record.timestamp_ns);
        json.begin(fault_type_name(a[1]), "page_fault", 'X', line.tid, start);
        std::fputs(",\"dur\":", out);
        print_us(out, a[2]);
        std::fprintf(out, ",\"args\":{\"address\":\"0x%" PRIx64 "\"}", a[0]);
        break;
    }
    case Event::KswapdWake:
    case Event::KswapdSleep:
        json.begin("kswapd balance", "vmscan", event == Event::KswapdWake ? 'B' : 'E', line.tid, record.timestamp_ns);
        break;
    case Event::DirectReclaimBegin:
        json.begin("direct reclaim", "vmscan", 'B', line.tid, record.timestamp_ns);
        break;
    case Event::DirectReclaimEnd:
        json.begin("direct reclaim", "vmscan", 'E', line.tid, record.timestamp_ns);
        std::fprintf(out, ",\"args\":{\"nr_reclaimed\":%" PRIu64 "}", a[0]);
        break;
    case Event::SwapIoStart:
    case Event::SwapIoDone: {
        bool write = event == Event::SwapIoStart ? a[2] : a[1];
        json.begin(write ? "swap out" : "swap in", "swap", event == Event::SwapIoStart ? 'b' : 'e', line.tid,
            record.timestamp_ns);
        std::fprintf(out, ",\"id\":\"0x%" PRIx64 "\"", a[0]);
        if (event == Event::SwapIoStart)
            std::fprintf(out, ",\"args\":{\"offset\":%" PRIu64 "}", a[1]);
        else
            std::fprintf(out, ",\"args\":{\"result\":%d}", static_cast<int>(static_cast<std::int64_t>(a[2])));
        break;
    }
    case Event::ZoneSample:
        json.begin("free frames", "vmemu", 'C', line.tid, record.timestamp_ns);
        std::fprintf(out,
            ",\"args\":{\"nr_free_pages\":%" PRIu64 ",\"min\":%" PRIu64 ",\"low\":%" PRIu64 ",\"high\":%" PRIu64 "}",
            a[0], a[1], a[2], a[3]);
        break;
    case Event::LruSample:
        json.begin("LRU lists", "vmemu", 'C', line.tid, record.timestamp_ns);
        std::fprintf(out,
            ",\"args\":{\"inactive_anon\":%" PRIu64 ",\"active_anon\":%" PRIu64 ",\"inactive_file\":%" PRIu64
            ",\"active_file\":%" PRIu64 ",\"unevictable\":%" PRIu64 "}",
            a[0], a[1], a[2], a[3], a[4]);
        break;
    case Event::VmEventSample:
        json.begin("swap traffic", "vmemu", 'C', line.tid, record.timestamp_ns);
        std::fprintf(out, ",\"args\":{\"pswpin\":%" PRIu64 ",\"pswpout\":%" PRIu64 "}", a[0], a[1]);
        break;
    case Event::FrameState:
        return;
    default:
        json.begin(event_name(event), event_subsystem(event), 'i', line.tid, record.timestamp_ns);
        std::fputs(",\"s\":\"t\",\"args\":{\"fields\":\"", out);
        print_fields(out, record);
        std::fputs("\"}", out);
        break;
    }
    json.end();
}

void write_histogram_data(std::FILE* out)
{
    std::fputs("\"latency_histograms_ns\":{", out);
    for (unsigned kind = 0; kind < kLatencyKinds; ++kind) {
        LatencyHistogram histogram = latency_histogram(static_cast<Latency>(kind));
        std::fprintf(out, "%s\n\"%s\":{\"count\":%" PRIu64 ",\"total_ns\":%" PRIu64 ",\"log2_buckets\":[",
            kind ? "," : "", latency_name(static_cast<Latency>(kind)), histogram.count, histogram.total_ns);
        for (unsigned k = 0; k < LatencyHistogram::kBuckets; ++k)
            std::fprintf(out, "%s%" PRIu64, k ? "," : "", histogram.buckets[k]);
        std::fputs("]}", out);
    }
    std::fputs("}", out);
}

} // namespace

void write_chrome_json(std::FILE* out)
{
    std::uint64_t written = 0;
    std::vector<TraceLine> lines = collect_lines(&written);
    int pid = getpid();
    std::fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", out);
    JsonEvents json(out, pid);
    // The threads' names, once each.
    std::set<std::uint32_t> named;
    for (const TraceLine& line : lines) {
        if (!named.insert(line.tid).second)
            continue;
        json.begin("thread_name", "__metadata", 'M', line.tid, 0);
        std::fputs(",\"args\":{\"name\":", out);
        print_json_string(out, line.comm);
        std::fputs("}", out);
        json.end();
    }
    for (const TraceLine& line : lines)
        write_event(json, line);
    std::fprintf(out, "\n],\"otherData\":{\"events_written\":%" PRIu64 ",\"events_lost\":%" PRIu64 ",", written,
        events_lost());
    write_histogram_data(out);
    std::fputs("}}\n", out);
}

} // namespace vmemu::trace
