// The Chrome/Perfetto JSON export of a trace, checked by tests/check_chrome_trace.py.
#include <array>
#include "test_support.hpp"
#include <vmemu/trace/latency.hpp>

namespace vmemu {
namespace {

TEST(ChromeJson, AThrashingRunIsAWellFormedTrace)
{
    auto machine = test::make_swapping_machine(512, 16 * test::kMiB, false); // no kswapd: nothing runs after the waits
    auto space = test::make_space(*machine);
    ASSERT_TRUE(trace::start(std::size_t { 1 } << 18, 16));
    trace::start_histograms();
    ASSERT_TRUE(machine->start_trace_sampling(std::chrono::milliseconds { 1 }));
    VirtAddr area = test::map_anon(*space, 1024 * kPageSize);
    for (int round = 0; round < 2; ++round) {
        for (std::size_t page = 0; page < 1024; ++page)
            area.offset(page * kPageSize).ptr<char>()[0] = static_cast<char>(page);
    }
    machine->wait_for_swap_io();
    machine->stop_trace_sampling();
    trace::stop();
    trace::stop_histograms();
    ASSERT_EQ(trace::events_lost(), 0u);

    char path[] = "/tmp/vmemu-trace-XXXXXX.json";
    int fd = mkstemps(path, 5);
    ASSERT_GE(fd, 0);
    std::FILE* out = fdopen(fd, "w");
    trace::write_chrome_json(out);
    std::fclose(out);
    auto faults = test::stat_of(*machine, VmStatItem::PgFault);
    auto swap_ios = test::stat_of(*machine, VmStatItem::PswpIn) + test::stat_of(*machine, VmStatItem::PswpOut);
    std::string command = std::string("python3 " VMEMU_TESTS_DIR "/check_chrome_trace.py ") + path + " "
        + std::to_string(faults) + " " + std::to_string(swap_ios);
    std::FILE* check = popen(command.c_str(), "r");
    ASSERT_NE(check, nullptr);
    std::array<char, 4096> verdict {};
    std::size_t got = std::fread(verdict.data(), 1, verdict.size() - 1, check);
    int status = pclose(check);
    unlink(path);
    EXPECT_EQ(std::string(verdict.data(), got), "ok\n");
    EXPECT_EQ(status, 0);
}

} // namespace
} // namespace vmemu
