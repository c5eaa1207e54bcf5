// The latency histograms: their buckets, what a run of faults puts in them, and their text.
#include <regex>
#include <sstream>
#include <vmemu/trace/latency.hpp>
#include "test_support.hpp"

namespace vmemu {
namespace {

using trace::Latency;
using trace::LatencyHistogram;

TEST(Latency, BucketsAreLog2)
{
    EXPECT_EQ(LatencyHistogram::bucket_of(0), 0u);
    EXPECT_EQ(LatencyHistogram::bucket_of(1), 0u);
    EXPECT_EQ(LatencyHistogram::bucket_of(2), 1u);
    EXPECT_EQ(LatencyHistogram::bucket_of(3), 1u);
    EXPECT_EQ(LatencyHistogram::bucket_of(4), 2u);
    EXPECT_EQ(LatencyHistogram::bucket_of(1023), 9u);
    EXPECT_EQ(LatencyHistogram::bucket_of(1024), 10u);
    EXPECT_EQ(LatencyHistogram::bucket_of(UINT64_MAX), 63u);
    for (unsigned k = 0; k < 63; ++k) {
        EXPECT_EQ(LatencyHistogram::bucket_of(LatencyHistogram::low(k)), k);
        EXPECT_EQ(LatencyHistogram::bucket_of(LatencyHistogram::high(k)), k);
        EXPECT_EQ(LatencyHistogram::high(k) + 1, LatencyHistogram::low(k + 1));
    }
}

TEST(Latency, FaultsReclaimAndSwapAreCounted)
{
    auto machine = test::make_swapping_machine(512, 16 * test::kMiB, false); // no kswapd: nothing runs after the waits
    auto space = test::make_space(*machine);
    trace::start_histograms();
    VirtAddr area = test::map_anon(*space, 1024 * kPageSize);
    for (int round = 0; round < 2; ++round) {
        for (std::size_t page = 0; page < 1024; ++page)
            area.offset(page * kPageSize).ptr<char>()[0] = static_cast<char>(page);
    }
    machine->wait_for_swap_io();
    trace::stop_histograms();
    std::uint64_t faults = static_cast<std::uint64_t>(test::stat_of(*machine, VmStatItem::PgFault));
    std::uint64_t majors = static_cast<std::uint64_t>(test::stat_of(*machine, VmStatItem::PgMajFault));
    std::uint64_t freed_pages = static_cast<std::uint64_t>(test::stat_of(*machine, VmStatItem::PgFree));
    std::uint64_t swap_pages = static_cast<std::uint64_t>(test::stat_of(*machine, VmStatItem::PswpIn)
        + test::stat_of(*machine, VmStatItem::PswpOut));
    // Off, nothing more is counted.
    for (std::size_t page = 0; page < 1024; ++page)
        area.offset(page * kPageSize).ptr<char>()[1] = 1;
    machine->wait_for_swap_io();

    auto count = [](Latency kind) { return trace::latency_histogram(kind).count; };
    EXPECT_GT(majors, 0u);
    EXPECT_EQ(count(Latency::MajorFault), majors);
    // Every fault is minor or major (none failed).
    EXPECT_EQ(count(Latency::MinorFault) + count(Latency::MajorFault), faults);
    EXPECT_GE(count(Latency::PageAlloc), 1024u);
    // Reclaim freed pages: each free of one or more contiguous pages is timed once.
    EXPECT_GT(count(Latency::PageFree), 0u);
    EXPECT_LE(count(Latency::PageFree), freed_pages);
    // Every page written out and read back was one swap request.
    EXPECT_EQ(count(Latency::SwapIo), swap_pages);
    LatencyHistogram major = trace::latency_histogram(Latency::MajorFault);
    std::uint64_t in_buckets = 0;
    for (std::uint64_t bucket : major.buckets)
        in_buckets += bucket;
    EXPECT_EQ(in_buckets, major.count);
    EXPECT_GT(major.total_ns, major.count); // more than 1 ns each

    char* buffer = nullptr;
    std::size_t size = 0;
    std::FILE* out = open_memstream(&buffer, &size);
    trace::write_histograms(out, "# ");
    std::fclose(out);
    std::string text(buffer, size);
    std::free(buffer);
    EXPECT_NE(text.find("# major_fault: " + std::to_string(majors) + " in all, average "), std::string::npos) << text;
    static const std::regex row(R"(^# +\d+ -> \d+ +: \d+ +\|\**  *\|$|^# +\d+ -> \d+ +: \d+ +\|\*{40}\|$)");
    std::istringstream lines(text);
    std::string line;
    std::size_t rows = 0;
    while (std::getline(lines, line)) {
        if (line.find("->") != std::string::npos) {
            EXPECT_TRUE(std::regex_match(line, row)) << line;
            ++rows;
        }
    }
    EXPECT_GT(rows, 3u);
}

} // namespace
} // namespace vmemu
