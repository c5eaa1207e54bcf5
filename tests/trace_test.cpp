// Tracepoints: what a run of faults and reclaim records, and the ftrace text it prints, line
// by line, in the kernel's formats.
#include <cstdio>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>
#include "test_support.hpp"

namespace vmemu {
namespace {

using test::ftrace_text;
using test::map_anon;

struct TraceLine {
    std::string task;
    double timestamp;
    std::string event;
    std::string fields;
};

std::vector<TraceLine> parse_ftrace(const std::string& text, std::string* header)
{
    // "comm-pid [cpu] flags seconds.micros: event: fields", as /sys/kernel/tracing/trace.
    static const std::regex line_format(R"(^ *(.{1,16})-(\d+) +\[(\d{3})\] \.\.\.\.\. +(\d+\.\d{6}): (\w+): (.*)$)");
    std::vector<TraceLine> lines;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with("#")) {
            *header += line + "\n";
            continue;
        }
        std::smatch match;
        EXPECT_TRUE(std::regex_match(line, match, line_format)) << line;
        if (!match.empty())
            lines.push_back({ match[1], std::stod(match[4]), match[5], match[6] });
    }
    return lines;
}

TEST(Trace, FaultsAndReclaimPrintInTheKernelsFormats)
{
    MachineConfig config { .frames = 512 };
    config.swap = SwapDeviceConfig { .bytes = 16 * test::kMiB };
    auto machine = Machine::create(config);
    ASSERT_TRUE(machine);
    auto space = test::make_space(**machine);
    ASSERT_TRUE(trace::start(std::size_t { 1 } << 18, 16));
    EXPECT_EQ(test::error_of(trace::start()), EBUSY);
    VirtAddr area = map_anon(*space, 1024 * kPageSize);
    for (std::size_t page = 0; page < 1024; ++page)
        area.offset(page * kPageSize).ptr<char>()[0] = static_cast<char>(page);
    std::size_t sum = 0;
    for (std::size_t page = 0; page < 1024; ++page)
        sum += static_cast<unsigned char>(area.offset(page * kPageSize).ptr<char>()[0]);
    {
        // kswapd may be between a page's write_folio and its I/O: the trace stops after its pass.
        ScopedReclaimPause pause(*(*machine)->kswapd());
        (*machine)->wait_for_swap_io();
        trace::stop();
    }
    std::size_t expected = 0;
    for (std::size_t page = 0; page < 1024; ++page)
        expected += page % 256;
    EXPECT_EQ(sum, expected);
    std::uint64_t recorded = trace::events_recorded();
    EXPECT_GT(recorded, 0u);
    EXPECT_EQ(trace::events_lost(), 0u);

    std::string header;
    std::vector<TraceLine> lines = parse_ftrace(ftrace_text(), &header);
    EXPECT_TRUE(header.starts_with("# tracer: nop\n#\n# entries-in-buffer/entries-written: ")) << header;
    EXPECT_EQ(lines.size(), recorded);
    std::map<std::string, std::size_t> counts;
    double previous = 0;
    for (const TraceLine& line : lines) {
        ++counts[line.event];
        EXPECT_GE(line.timestamp, previous);
        previous = line.timestamp;
    }
    // Each field list in its kernel TP_printk() order.
    static const std::map<std::string, std::regex> formats {
        { "page_fault_user", std::regex(R"(address=0x[0-9a-f]+ ip=0x[0-9a-f]+ error_code=0x[0-9a-f]+)") },
        { "page_fault_exit", std::regex(R"(address=0x[0-9a-f]+ type=(anon|zero|cow|minor|major|hinting|error) latency_ns=\d+)") },
        { "mm_page_alloc", std::regex(R"(page=0x[0-9a-f]+ pfn=0x[0-9a-f]+ order=\d+ migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE(\|__GFP_ZERO)?)") },
        { "mm_page_free", std::regex(R"(page=0x[0-9a-f]+ pfn=0x[0-9a-f]+ order=\d+)") },
        { "mm_vmscan_kswapd_wake", std::regex(R"(nid=0 order=0)") },
        { "mm_vmscan_kswapd_sleep", std::regex(R"(nid=0)") },
        { "mm_vmscan_direct_reclaim_begin", std::regex(R"(order=0 gfp_flags=GFP_HIGHUSER_MOVABLE)") },
        { "mm_vmscan_direct_reclaim_end", std::regex(R"(nr_reclaimed=\d+)") },
        { "mm_vmscan_lru_isolate", std::regex(R"(classzone=0 order=0 nr_requested=\d+ nr_scanned=\d+ nr_skipped=0 nr_taken=\d+ lru=(inactive_anon|active_anon))") },
        { "mm_vmscan_lru_shrink_inactive", std::regex(R"(nid=0 nr_scanned=\d+ nr_reclaimed=\d+ nr_dirty=0 nr_writeback=\d+ nr_congested=0 nr_immediate=0 nr_activate_anon=\d+ nr_activate_file=0 nr_ref_keep=0 nr_unmap_fail=\d+ priority=12 flags=RECLAIM_WB_ANON\|RECLAIM_WB_ASYNC)") },
        { "mm_vmscan_lru_shrink_active", std::regex(R"(nid=0 nr_taken=\d+ nr_active=\d+ nr_deactivated=\d+ nr_referenced=\d+ priority=12 flags=RECLAIM_WB_ANON\|RECLAIM_WB_ASYNC)") },
        { "mm_vmscan_write_folio", std::regex(R"(page=0x[0-9a-f]+ pfn=0x[0-9a-f]+ flags=RECLAIM_WB_ANON\|RECLAIM_WB_ASYNC)") },
        { "swap_read_folio", std::regex(R"(pfn=0x[0-9a-f]+ offset=\d+ synchronous=[01])") },
        { "swap_write_end", std::regex(R"(pfn=0x[0-9a-f]+ result=-?\d+)") },
        { "swap_io_start", std::regex(R"(pfn=0x[0-9a-f]+ offset=\d+ rw=[RW])") },
        { "swap_io_done", std::regex(R"(pfn=0x[0-9a-f]+ rw=[RW] result=-?\d+ latency_ns=\d+)") },
    };
    for (const TraceLine& line : lines) {
        auto format = formats.find(line.event);
        ASSERT_NE(format, formats.end()) << line.event;
        EXPECT_TRUE(std::regex_match(line.fields, format->second)) << line.event << ": " << line.fields;
    }
    // 1024 pages on 512 frames: every kind of event of a thrashing run is there.
    for (const char* event : { "page_fault_user", "page_fault_exit", "mm_page_alloc", "mm_page_free",
             "mm_vmscan_lru_isolate", "mm_vmscan_lru_shrink_inactive", "mm_vmscan_write_folio", "swap_read_folio",
             "swap_write_end", "swap_io_start", "swap_io_done" })
        EXPECT_GT(counts[event], 0u) << event;
    EXPECT_EQ(counts["page_fault_user"], counts["page_fault_exit"]);
    EXPECT_EQ(counts["mm_vmscan_write_folio"], counts["swap_write_end"]);
    EXPECT_EQ(counts["swap_io_start"], counts["swap_io_done"]);
    EXPECT_EQ(counts["swap_io_start"], counts["mm_vmscan_write_folio"] + counts["swap_read_folio"]);
    EXPECT_GT(counts["mm_vmscan_kswapd_wake"] + counts["mm_vmscan_direct_reclaim_begin"], 0u);
    std::size_t majors = 0;
    for (const TraceLine& line : lines)
        majors += line.event == "page_fault_exit" && line.fields.find("type=major") != std::string::npos;
    EXPECT_EQ(majors, static_cast<std::size_t>((*machine)->stat().value(VmStatItem::PgMajFault)));

    // Off, a tracepoint records nothing.
    area.ptr<char>()[1] = 1;
    (void)space->munmap(area, 1024 * kPageSize);
    EXPECT_EQ(trace::events_recorded(), recorded);
}

TEST(Trace, BadSizesAreRejected)
{
    EXPECT_EQ(test::error_of(trace::start(0, 4)), EINVAL);
    EXPECT_EQ(test::error_of(trace::start(16, 0)), EINVAL);
}

} // namespace
} // namespace vmemu
