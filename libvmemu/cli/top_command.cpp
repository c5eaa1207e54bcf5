#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vmemu/stats/stats_segment.hpp>
#include "top_command.hpp"

namespace vmemu::cli {

namespace {

constexpr int kBadInput = 2;

int fail(const std::string& message)
{
    std::fprintf(stderr, "vmemu top: %s\n", message.c_str());
    return kBadInput;
}

template<typename T>
bool parse(const char* text, T& value)
{
    auto [end, error] = std::from_chars(text, text + std::strlen(text), value);
    return error == std::errc() && *end == '\0';
}

std::int64_t counter(const PublishedStats& stats, VmStatItem item) { return stats.vmstat[static_cast<unsigned>(item)]; }

void print_heading(std::size_t processes, double seconds)
{
    std::printf("vmemu top: %zu process%s, every %g s; memory in pages, rates per second\n", processes,
        processes == 1 ? "" : "es", seconds);
    std::printf("%7s %-15s %7s %7s %7s %7s %7s %9s %8s %8s %8s %9s %9s\n", "PID", "COMM", "frames", "free",
        "anon", "file", "swapc", "pgfault", "majflt", "pswpin", "pswpout", "pgpgin", "pgpgout");
}

// One process's line: its state now, and its rates since previous (or since it started).
void print_line(const PublishedStats& now, const PublishedStats* previous)
{
    double seconds = static_cast<double>(now.updated_ns - (previous ? previous->updated_ns : now.started_ns)) / 1e9;
    auto rate = [&](VmStatItem item) {
        std::int64_t delta = counter(now, item) - (previous ? counter(*previous, item) : 0);
        return seconds > 0 ? static_cast<double>(delta) / seconds : 0.0;
    };
    std::uint64_t anon = now.lru[0] + now.lru[1];
    std::uint64_t file = now.lru[2] + now.lru[3];
    std::printf("%7u %-15.15s %7" PRIu64 " %7" PRIu64 " %7" PRIu64 " %7" PRIu64 " %7" PRIu64
                " %9.0f %8.0f %8.0f %8.0f %9.0f %9.0f\n",
        now.pid, now.comm.c_str(), now.frames, now.free_frames, anon, file, now.swap_cache, rate(VmStatItem::PgFault),
        rate(VmStatItem::PgMajFault), rate(VmStatItem::PswpIn), rate(VmStatItem::PswpOut), rate(VmStatItem::PgPgIn),
        rate(VmStatItem::PgPgOut));
}

} // namespace

int top_command(int argc, char** argv)
{
    double seconds = 1;
    long count = -1;
    for (int i = 0; i < argc; ++i) {
        std::string_view option = argv[i];
        if ((option == "-d" || option == "-n") && i + 1 >= argc)
            return fail("option " + std::string(option) + " needs a value");
        if (option == "-d") {
            const char* value = argv[++i];
            if (!parse(value, seconds) || !(seconds >= 0.1 && seconds <= 3600))
                return fail(std::string("-d ") + value + ": the delay is in seconds, from 0.1 to 3600");
        } else if (option == "-n") {
            const char* value = argv[++i];
            if (!parse(value, count) || count < 1)
                return fail(std::string("-n ") + value + ": the count is a number of reports, at least 1");
        } else {
            return fail("unknown option " + std::string(option) + " (vmemu top [-d SECONDS] [-n COUNT])");
        }
    }
    std::map<std::uint32_t, PublishedStats> previous;
    for (long report = 0; count < 0 || report < count; ++report) {
        if (report > 0)
            usleep(static_cast<useconds_t>(seconds * 1e6));
        std::vector<PublishedStats> running = read_published_stats();
        print_heading(running.size(), seconds);
        std::map<std::uint32_t, PublishedStats> seen;
        for (PublishedStats& stats : running) {
            auto before = previous.find(stats.pid);
            print_line(stats, before == previous.end() ? nullptr : &before->second);
            seen.emplace(stats.pid, std::move(stats));
        }
        previous = std::move(seen);
        std::fflush(stdout);
    }
    return 0;
}

} // namespace vmemu::cli
