// The trace in ftrace's text format, as /sys/kernel/tracing/trace prints it, with each event's
// fields in its kernel TP_printk() format (event_format.cpp), and the latency histograms after
// the events as comment lines.
#include <cinttypes>
#include <unistd.h>
#include <vmemu/trace/latency.hpp>
#include <vmemu/trace/tracepoint.hpp>
#include "event_format.hpp"
#include "trace_buffer.hpp"

namespace vmemu::trace {

void write_ftrace(std::FILE* out)
{
    std::uint64_t written = 0;
    std::vector<TraceLine> lines = collect_lines(&written);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    std::fprintf(out,
        "# tracer: nop\n"
        "#\n"
        "# entries-in-buffer/entries-written: %zu/%" PRIu64 "   #P:%ld\n"
        "#\n"
        "#                                _-----=> irqs-off/BH-disabled\n"
        "#                               / _----=> need-resched\n"
        "#                              | / _---=> hardirq/softirq\n"
        "#                              || / _--=> preempt-depth\n"
        "#                              ||| / _-=> migrate-disable\n"
        "#                              |||| /     delay\n"
        "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n"
        "#              | |         |   |||||     |         |\n",
        lines.size(), written, cpus);
    for (const TraceLine& line : lines) {
        std::uint64_t ns = line.record.timestamp_ns;
        // ftrace's trace file prints the event's name alone, without its subsystem.
        std::fprintf(out, "%16.16s-%-7u [%03u] ..... %5" PRIu64 ".%06" PRIu64 ": %s: ", line.comm, line.tid,
            static_cast<unsigned>(line.record.cpu), ns / 1000000000u, ns / 1000u % 1000000u,
            event_name(static_cast<Event>(line.record.event)));
        print_fields(out, line.record);
        std::fputc('\n', out);
    }
    std::fputs("#\n# latency histograms\n", out);
    write_histograms(out, "# ");
}

} // namespace vmemu::trace
