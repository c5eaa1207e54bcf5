#pragma once
// The counters a running Machine publishes for `vmemu top`: a small shared-memory segment,
// /dev/shm/vmemu.PID (mode 0600), that a thread of vmemu's own rewrites every interval.
// Invariants: a reader sees a whole update when `sequence` is even and the same before and
// after its copy (a seqlock); `magic` and `version` say the layout.
// Locking: none; one writer (the publisher's thread), readers in other processes.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <optional>
#include <vmemu/base/periodic_thread.hpp>
#include <sys/types.h>
#include <vector>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/stats/vm_stat.hpp>

namespace vmemu {

class Machine;

struct StatsSegment {
    static constexpr std::uint64_t kMagic = 0x3153'5441'5453'4d56; // "VMSTATS1", little-endian
    static constexpr std::uint32_t kVersion = 1;
    std::uint64_t magic;
    std::uint32_t version;
    std::uint32_t pid;
    char comm[16];
    std::uint64_t frames;
    std::uint64_t started_ns; // CLOCK_MONOTONIC
    std::atomic<std::uint64_t> sequence;
    std::atomic<std::uint64_t> updated_ns;
    std::atomic<std::uint64_t> free_frames;
    std::atomic<std::uint64_t> swap_cache;
    std::atomic<std::uint64_t> lru[5]; // inactive_anon, active_anon, inactive_file, active_file, unevictable
    std::atomic<std::int64_t> vmstat[VmStat::kItems];
};

// A copy of one process's segment.
struct PublishedStats {
    std::uint32_t pid;
    std::string comm;
    std::uint64_t frames;
    std::uint64_t started_ns;
    std::uint64_t updated_ns;
    std::uint64_t free_frames;
    std::uint64_t swap_cache;
    std::uint64_t lru[5];
    std::int64_t vmstat[VmStat::kItems];
};

class StatsPublisher {
public:
    // Creates /dev/shm/vmemu.PID (replacing a stale one) and publishes every interval. EEXIST
    // when another Machine of this process publishes; shm_open()'s errors otherwise.
    static VmResult<std::unique_ptr<StatsPublisher>> start(Machine& machine, std::chrono::milliseconds interval);
    // Stops the thread and removes the segment.
    ~StatsPublisher();
    StatsPublisher(const StatsPublisher&) = delete;
    StatsPublisher& operator=(const StatsPublisher&) = delete;
    // In a child of fork(): the thread and the segment are the parent's; forget both.
    void forget_in_child();

private:
    StatsPublisher(Machine& machine, StatsSegment* segment, std::string name, std::chrono::milliseconds interval);
    void publish();

    Machine& m_machine;
    StatsSegment* m_segment;
    std::string m_name;
    std::optional<PeriodicThread> m_thread;
};

// The segments of the running vmemu processes, by pid; a segment whose process is gone is
// removed when the caller may (it is the owner's).
std::vector<PublishedStats> read_published_stats();
// Process pid's segment, whether it runs or not: one that ends by exit() or _exit() removes
// it, one killed by a signal leaves it.
std::optional<PublishedStats> read_published_stats(pid_t pid);
void remove_published_stats(pid_t pid);
// The counters of a segment in /proc/vmstat's text, as Machine::vmstat() gives them.
std::string vmstat_text(const PublishedStats& stats);

} // namespace vmemu
