#include <algorithm>
#include <cerrno>
#include <iterator>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vmemu/machine.hpp>
#include <vmemu/stats/stats_segment.hpp>
#include <vmemu/trace/tracepoint.hpp>

namespace vmemu {

namespace {
constexpr const char* kPrefix = "vmemu.";
// Whether a publisher of this process image has the segment.
std::atomic<bool> g_publishing { false };

std::string segment_name(pid_t pid) { return "/" + std::string(kPrefix) + std::to_string(pid); }
} // namespace

VmResult<std::unique_ptr<StatsPublisher>> StatsPublisher::start(Machine& machine, std::chrono::milliseconds interval)
{
    // `vmemu top -d` reads at most once an hour; a longer wait would overflow the timer.
    if (interval.count() <= 0 || interval > std::chrono::hours(1))
        return vm_fail(EINVAL, "the publishing interval must be above 0 and at most an hour");
    if (g_publishing.exchange(true, std::memory_order_acq_rel))
        return vm_fail(EEXIST, "a machine of this process publishes its counters already");
    std::string name = segment_name(getpid());
    // A segment of this pid that no publisher here owns is stale: this process before an
    // exec, or a process of the same pid that died without removing it.
    shm_unlink(name.c_str());
    int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        g_publishing.store(false, std::memory_order_release);
        return vm_fail(errno, "cannot create the stats segment in /dev/shm");
    }
    void* memory = MAP_FAILED;
    if (ftruncate(fd, sizeof(StatsSegment)) == 0)
        memory = mmap(nullptr, sizeof(StatsSegment), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int error = errno;
    ::close(fd);
    if (memory == MAP_FAILED) {
        shm_unlink(name.c_str());
        g_publishing.store(false, std::memory_order_release);
        return vm_fail(error, "cannot map the stats segment");
    }
    // cppcheck-suppress legacyUninitvar ; a placement new, which cppcheck 2.10 misreads
    auto* segment = new (memory) StatsSegment {};
    segment->version = StatsSegment::kVersion;
    segment->pid = static_cast<std::uint32_t>(getpid());
    prctl(PR_GET_NAME, segment->comm, 0, 0, 0);
    segment->frames = machine.frame_count();
    segment->started_ns = trace::now_ns();
    return std::unique_ptr<StatsPublisher>(new StatsPublisher(machine, segment, std::move(name), interval));
}

StatsPublisher::StatsPublisher(Machine& machine, StatsSegment* segment, std::string name,
    std::chrono::milliseconds interval)
    : m_machine(machine)
    , m_segment(segment)
    , m_name(std::move(name))
{
    publish();
    // The magic last: a reader takes the segment for whole from then on.
    __atomic_store_n(&m_segment->magic, StatsSegment::kMagic, __ATOMIC_RELEASE);
    m_thread.emplace("vmemu-stats", interval, [this] { publish(); });
}

StatsPublisher::~StatsPublisher()
{
    m_thread.reset();
    if (m_segment) {
        munmap(m_segment, sizeof(StatsSegment));
        shm_unlink(m_name.c_str());
    }
    g_publishing.store(false, std::memory_order_release);
}

void StatsPublisher::forget_in_child()
{
    m_thread->forget_in_child();
    munmap(m_segment, sizeof(StatsSegment));
    m_segment = nullptr;
}

void StatsPublisher::publish()
{
    StatsSegment& segment = *m_segment;
    segment.sequence.fetch_add(1, std::memory_order_acq_rel); // odd: being written
    segment.free_frames.store(m_machine.free_frames(), std::memory_order_relaxed);
    const SwapState* swap = m_machine.swap();
    segment.swap_cache.store(swap ? swap->cache().pages() : 0, std::memory_order_relaxed);
    for (unsigned list = 0; list < 5; ++list)
        segment.lru[list].store(m_machine.lruvec().size(static_cast<LruList>(list)), std::memory_order_relaxed);
    for (unsigned item = 0; item < VmStat::kItems; ++item)
        segment.vmstat[item].store(m_machine.stat().value(static_cast<VmStatItem>(item)), std::memory_order_relaxed);
    segment.updated_ns.store(trace::now_ns(), std::memory_order_relaxed);
    segment.sequence.fetch_add(1, std::memory_order_acq_rel);
}

namespace {

// A whole copy of the segment /NAME, if it has one.
std::optional<PublishedStats> read_segment(const std::string& name)
{
    int fd = shm_open(name.c_str(), O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return std::nullopt;
    // A segment still being made, or left by a process killed while it made it, may be shorter
    // than the layout: reading past its end would be SIGBUS.
    struct stat status {};
    if (fstat(fd, &status) != 0 || static_cast<std::size_t>(status.st_size) < sizeof(StatsSegment)) {
        ::close(fd);
        return std::nullopt;
    }
    void* memory = mmap(nullptr, sizeof(StatsSegment), PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (memory == MAP_FAILED)
        return std::nullopt;
    const auto* segment = static_cast<const StatsSegment*>(memory);
    PublishedStats copy {};
    bool whole = false;
    if (__atomic_load_n(&segment->magic, __ATOMIC_ACQUIRE) == StatsSegment::kMagic
        && segment->version == StatsSegment::kVersion) {
        for (int attempt = 0; attempt < 100 && !whole; ++attempt) {
            std::uint64_t before = segment->sequence.load(std::memory_order_acquire);
            copy.pid = segment->pid;
            copy.comm.assign(segment->comm, strnlen(segment->comm, sizeof(segment->comm)));
            copy.frames = segment->frames;
            copy.started_ns = segment->started_ns;
            copy.updated_ns = segment->updated_ns.load(std::memory_order_relaxed);
            copy.free_frames = segment->free_frames.load(std::memory_order_relaxed);
            copy.swap_cache = segment->swap_cache.load(std::memory_order_relaxed);
            for (unsigned list = 0; list < 5; ++list)
                copy.lru[list] = segment->lru[list].load(std::memory_order_relaxed);
            for (unsigned item = 0; item < VmStat::kItems; ++item)
                copy.vmstat[item] = segment->vmstat[item].load(std::memory_order_relaxed);
            std::atomic_thread_fence(std::memory_order_acquire);
            whole = !(before & 1) && segment->sequence.load(std::memory_order_relaxed) == before;
        }
    }
    munmap(memory, sizeof(StatsSegment));
    if (!whole)
        return std::nullopt;
    return copy;
}

} // namespace

std::vector<PublishedStats> read_published_stats()
{
    std::vector<PublishedStats> found;
    DIR* directory = opendir("/dev/shm");
    if (!directory)
        return found;
    while (dirent* entry = readdir(directory)) {
        if (std::strncmp(entry->d_name, kPrefix, std::strlen(kPrefix)) != 0)
            continue;
        std::string name = std::string("/") + entry->d_name;
        auto pid = static_cast<pid_t>(std::strtol(entry->d_name + std::strlen(kPrefix), nullptr, 10));
        // A process that died without removing its segment, whole or not: remove it when we may.
        if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH) {
            shm_unlink(name.c_str());
            continue;
        }
        if (std::optional<PublishedStats> copy = read_segment(name))
            found.push_back(std::move(*copy));
    }
    closedir(directory);
    return found;
}

std::optional<PublishedStats> read_published_stats(pid_t pid) { return read_segment(segment_name(pid)); }

void remove_published_stats(pid_t pid) { shm_unlink(segment_name(pid).c_str()); }

std::string vmstat_text(const PublishedStats& stats)
{
    VmStatSnapshot snapshot;
    snapshot.free_frames = stats.free_frames;
    std::copy(std::begin(stats.lru), std::end(stats.lru), std::begin(snapshot.lru));
    snapshot.swap_cache = stats.swap_cache;
    std::copy(std::begin(stats.vmstat), std::end(stats.vmstat), std::begin(snapshot.items));
    return format_vmstat(snapshot);
}

} // namespace vmemu
