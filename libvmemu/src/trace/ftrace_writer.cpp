// The trace in ftrace's text format, as /sys/kernel/tracing/trace prints it, with each event's
// fields in its kernel TP_printk() format.
#include <algorithm>
#include <cinttypes>
#include <vector>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <vmemu/trace/tracepoint.hpp>
#include "trace_buffer.hpp"

namespace vmemu::trace {

namespace {

struct Line {
    const Ring* ring;
    Record record;
};

const char* fault_type_name(std::uint64_t type)
{
    switch (static_cast<FaultType>(type)) {
    case FaultType::Anonymous: return "anon";
    case FaultType::ZeroPage: return "zero";
    case FaultType::Cow: return "cow";
    case FaultType::Minor: return "minor";
    case FaultType::Major: return "major";
    case FaultType::Hinting: return "hinting";
    case FaultType::Error: return "error";
    }
    return "unknown";
}

const char* lru_name(std::uint64_t lru)
{
    static constexpr const char* kNames[] = { "inactive_anon", "active_anon", "inactive_file", "active_file",
        "unevictable" };
    return lru < 5 ? kNames[lru] : "unknown";
}

// "subsystem:name" is what the trace_event format files say; ftrace's trace file prints the
// name alone.
void print_fields(std::FILE* out, const Record& record)
{
    const std::uint64_t* a = record.args;
    switch (static_cast<Event>(record.event)) {
    case Event::PageFaultUser:
        std::fprintf(out, "page_fault_user: address=0x%" PRIx64 " ip=0x%" PRIx64 " error_code=0x%" PRIx64, a[0], a[1],
            a[2]);
        break;
    case Event::PageFaultExit:
        std::fprintf(out, "page_fault_exit: address=0x%" PRIx64 " type=%s latency_ns=%" PRIu64, a[0],
            fault_type_name(a[1]), a[2]);
        break;
    case Event::MmPageAlloc:
        std::fprintf(out, "mm_page_alloc: page=0x%" PRIx64 " pfn=0x%" PRIx64 " order=%d migratetype=1 gfp_flags=%s",
            a[0], a[1], static_cast<int>(a[2]), a[3] ? "GFP_HIGHUSER_MOVABLE|__GFP_ZERO" : "GFP_HIGHUSER_MOVABLE");
        break;
    case Event::MmPageFree:
        std::fprintf(out, "mm_page_free: page=0x%" PRIx64 " pfn=0x%" PRIx64 " order=%d", a[0], a[1],
            static_cast<int>(a[2]));
        break;
    case Event::KswapdWake:
        std::fprintf(out, "mm_vmscan_kswapd_wake: nid=0 order=0");
        break;
    case Event::KswapdSleep:
        std::fprintf(out, "mm_vmscan_kswapd_sleep: nid=0");
        break;
    case Event::DirectReclaimBegin:
        std::fprintf(out, "mm_vmscan_direct_reclaim_begin: order=%d gfp_flags=GFP_HIGHUSER_MOVABLE",
            static_cast<int>(a[0]));
        break;
    case Event::DirectReclaimEnd:
        std::fprintf(out, "mm_vmscan_direct_reclaim_end: nr_reclaimed=%" PRIu64, a[0]);
        break;
    case Event::LruIsolate:
        std::fprintf(out,
            "mm_vmscan_lru_isolate: classzone=0 order=0 nr_requested=%" PRIu64 " nr_scanned=%" PRIu64
            " nr_skipped=0 nr_taken=%" PRIu64 " lru=%s",
            a[0], a[1], a[2], lru_name(a[3]));
        break;
    case Event::LruShrinkInactive:
        std::fprintf(out,
            "mm_vmscan_lru_shrink_inactive: nid=0 nr_scanned=%" PRIu64 " nr_reclaimed=%" PRIu64
            " nr_dirty=0 nr_writeback=%" PRIu64 " nr_congested=0 nr_immediate=0 nr_activate_anon=%" PRIu64
            " nr_activate_file=0 nr_ref_keep=0 nr_unmap_fail=%" PRIu64 " priority=12 flags=RECLAIM_WB_ANON|RECLAIM_WB_ASYNC",
            a[0], a[1], a[2], a[3], a[4]);
        break;
    case Event::LruShrinkActive:
        std::fprintf(out,
            "mm_vmscan_lru_shrink_active: nid=0 nr_taken=%" PRIu64 " nr_active=%" PRIu64 " nr_deactivated=%" PRIu64
            " nr_referenced=%" PRIu64 " priority=12 flags=RECLAIM_WB_ANON|RECLAIM_WB_ASYNC",
            a[0], a[1], a[2], a[3]);
        break;
    case Event::WriteFolio:
        std::fprintf(out, "mm_vmscan_write_folio: page=0x%" PRIx64 " pfn=0x%" PRIx64
                          " flags=RECLAIM_WB_ANON|RECLAIM_WB_ASYNC", a[0], a[1]);
        break;
    case Event::SwapReadFolio:
        std::fprintf(out, "swap_read_folio: pfn=0x%" PRIx64 " offset=%" PRIu64 " synchronous=%d", a[0], a[1],
            static_cast<int>(a[2]));
        break;
    case Event::SwapWriteDone:
        std::fprintf(out, "swap_write_end: pfn=0x%" PRIx64 " result=%d", a[0],
            static_cast<int>(static_cast<std::int64_t>(a[1])));
        break;
    case Event::FilemapAddToPageCache:
    case Event::FilemapDeleteFromPageCache:
        // include/trace/events/filemap.h: (pfn, index, dev, ino) recorded.
        std::fprintf(out, "%s: dev %u:%u ino %" PRIx64 " pfn=0x%" PRIx64 " ofs=%" PRIu64 " order=0",
            static_cast<Event>(record.event) == Event::FilemapAddToPageCache ? "mm_filemap_add_to_page_cache" : "mm_filemap_delete_from_page_cache",
            major(static_cast<dev_t>(a[2])), minor(static_cast<dev_t>(a[2])), a[3], a[0], a[1] << 12);
        break;
    case Event::Count:
        break;
    }
}

} // namespace

void write_ftrace(std::FILE* out)
{
    const TraceBuffers& buffers = trace::buffers();
    std::vector<Line> lines;
    std::uint64_t written = 0;
    buffers.for_each_ring([&](const Ring& ring) {
        std::uint64_t head = ring.head.load(std::memory_order_acquire);
        written += head;
        std::uint64_t from = head > buffers.capacity ? head - buffers.capacity : 0;
        for (std::uint64_t index = from; index < head; ++index) {
            const Record& record = ring.records[index & (buffers.capacity - 1)];
            if (__atomic_load_n(&record.sequence, __ATOMIC_ACQUIRE) != index + 1)
                continue; // being written, or overwritten meanwhile
            Line line { &ring, record };
            if (__atomic_load_n(&record.sequence, __ATOMIC_ACQUIRE) == index + 1)
                lines.push_back(line);
        }
    });
    // By time; events of one thread with the same timestamp stay in their order.
    std::sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) {
        if (a.record.timestamp_ns != b.record.timestamp_ns)
            return a.record.timestamp_ns < b.record.timestamp_ns;
        return a.ring != b.ring ? a.ring < b.ring : a.record.sequence < b.record.sequence;
    });
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
    for (const Line& line : lines) {
        std::uint64_t ns = line.record.timestamp_ns;
        std::fprintf(out, "%16.16s-%-7u [%03u] ..... %5" PRIu64 ".%06" PRIu64 ": ", line.ring->comm, line.ring->tid,
            static_cast<unsigned>(line.record.cpu), ns / 1000000000u, ns / 1000u % 1000000u);
        print_fields(out, line.record);
        std::fputc('\n', out);
    }
}

} // namespace vmemu::trace
