// The sampler: the frame map a trace's frame_state runs describe is the machine's, and the
// samples follow the machine's counters.
#include <map>
#include <regex>
#include <sstream>
#include <vmemu/trace/frame_state.hpp>
#include "test_support.hpp"

namespace vmemu {
namespace {

using test::ftrace_text;
using test::map_anon;

struct Sampled {
    std::vector<std::uint8_t> states;   // the map after the last frame_state
    std::size_t first_sample_pages = 0; // frames the first sample covered
    std::size_t zone_samples = 0;
    std::size_t lru_samples = 0;
    std::uint64_t last_free = 0;
    std::uint64_t last_pswpout = 0;
};

Sampled replay(const std::string& text, std::size_t frames)
{
    static const std::regex frame_state(R"(frame_state: pfn=0x([0-9a-f]+) nr_pages=(\d+) state=(\w+)$)");
    static const std::regex zone(R"(zone_sample: nr_free_pages=(\d+) min=\d+ low=\d+ high=\d+ nr_swapcache=\d+$)");
    static const std::regex lru(R"(lru_sample: nr_inactive_anon=\d+ nr_active_anon=\d+ nr_inactive_file=\d+ nr_active_file=\d+ nr_unevictable=\d+$)");
    static const std::regex events(R"(vm_event_sample: pswpin=\d+ pswpout=(\d+) pgpgin=\d+ pgpgout=\d+ pgmajfault=\d+$)");
    std::map<std::string, std::uint8_t> codes;
    for (unsigned state = 0; state < trace::kFrameStates; ++state)
        codes[trace::frame_state_name(state)] = static_cast<std::uint8_t>(state);
    Sampled sampled;
    sampled.states.assign(frames, 0xff);
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        std::smatch match;
        if (std::regex_search(line, match, frame_state)) {
            std::size_t pfn = std::stoul(match[1], nullptr, 16);
            std::size_t count = std::stoul(match[2]);
            EXPECT_LE(pfn + count, frames) << line;
            EXPECT_TRUE(codes.contains(match[3])) << line;
            if (sampled.zone_samples == 1)
                sampled.first_sample_pages += count;
            for (std::size_t i = pfn; i < pfn + count && i < frames; ++i)
                sampled.states[i] = codes[match[3]];
        } else if (std::regex_search(line, match, zone)) {
            ++sampled.zone_samples;
            sampled.last_free = std::stoull(match[1]);
        } else if (std::regex_search(line, match, lru)) {
            ++sampled.lru_samples;
        } else if (std::regex_search(line, match, events)) {
            sampled.last_pswpout = std::stoull(match[1]);
        }
    }
    return sampled;
}

TEST(TraceSampler, TheFrameMapOfTheTraceIsTheMachines)
{
    // No kswapd: nothing changes the frames between the last sample and the check.
    auto machine = test::make_swapping_machine(512, 16 * test::kMiB, false);
    auto space = test::make_space(*machine);
    ASSERT_TRUE(trace::start(1024, 16));
    ASSERT_TRUE(machine->start_trace_sampling(std::chrono::milliseconds { 1 }));
    EXPECT_EQ(test::error_of(machine->start_trace_sampling()), EBUSY);
    VirtAddr area = map_anon(*space, 1024 * kPageSize);
    for (int round = 0; round < 3; ++round) {
        for (std::size_t page = 0; page < 1024; ++page)
            area.offset(page * kPageSize).ptr<char>()[0] = static_cast<char>(page + round);
        std::this_thread::sleep_for(std::chrono::milliseconds { 3 });
    }
    machine->wait_for_swap_io();
    machine->stop_trace_sampling();
    trace::stop();
    // Each ring holds 1024 events and wrapped many times; the sampler's log keeps them all.
    EXPECT_GT(trace::events_lost(), 0u);

    Sampled sampled = replay(ftrace_text(), machine->frame_count());
    EXPECT_EQ(sampled.first_sample_pages, machine->frame_count());
    EXPECT_GE(sampled.zone_samples, 2u);
    EXPECT_EQ(sampled.zone_samples, sampled.lru_samples);
    EXPECT_EQ(sampled.last_free, machine->free_frames());
    EXPECT_EQ(sampled.last_pswpout, static_cast<std::uint64_t>(test::stat_of(*machine, VmStatItem::PswpOut)));
    EXPECT_GT(sampled.last_pswpout, 0u);
    std::map<std::string, std::size_t> seen;
    for (std::size_t pfn = 0; pfn < machine->frame_count(); ++pfn) {
        auto state = trace::frame_state_of(machine->arena().frame(Pfn(pfn)));
        EXPECT_EQ(sampled.states[pfn], static_cast<std::uint8_t>(state)) << "pfn " << pfn;
        ++seen[trace::frame_state_name(static_cast<unsigned>(state))];
    }
    // A thrashing run leaves anonymous pages on both lists, and page tables.
    EXPECT_GT(seen["anon_active"] + seen["anon_inactive"], 0u);
    EXPECT_GT(seen["page_table"], 0u);
    EXPECT_GT(seen["free"], 0u);
}

TEST(TraceSampler, BadIntervalsAreRejected)
{
    auto machine = test::make_machine(512);
    EXPECT_EQ(test::error_of(machine->start_trace_sampling(std::chrono::milliseconds { 0 })), EINVAL);
    EXPECT_EQ(test::error_of(machine->start_trace_sampling(std::chrono::minutes { 2 })), EINVAL);
    // Sampling without tracing records nothing, and stops cleanly. The trace has one sample
    // log: one machine of a process at a time.
    ASSERT_TRUE(machine->start_trace_sampling(std::chrono::milliseconds { 1 }));
    auto other = test::make_machine(512);
    EXPECT_EQ(test::error_of(other->start_trace_sampling()), EBUSY);
    std::this_thread::sleep_for(std::chrono::milliseconds { 5 });
    machine->stop_trace_sampling();
}

} // namespace
} // namespace vmemu
