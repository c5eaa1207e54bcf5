// The stats segment `vmemu top` reads: what a machine publishes, one publisher per process,
// and segments of dead processes cleaned up.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "test_support.hpp"

namespace vmemu {
namespace {

std::string segment_path(pid_t pid) { return "/dev/shm/vmemu." + std::to_string(pid); }

const PublishedStats* find(const std::vector<PublishedStats>& all, pid_t pid)
{
    for (const PublishedStats& stats : all)
        if (stats.pid == static_cast<std::uint32_t>(pid))
            return &stats;
    return nullptr;
}

TEST(StatsSegment, AMachinePublishesItsCounters)
{
    auto machine = test::make_machine(1024);
    auto space = test::make_space(*machine);
    ASSERT_TRUE(machine->publish_stats(std::chrono::milliseconds { 5 }));
    EXPECT_EQ(test::error_of(machine->publish_stats()), EBUSY);
    auto other = test::make_machine(512);
    EXPECT_EQ(test::error_of(other->publish_stats()), EEXIST);
    struct stat status {};
    ASSERT_EQ(stat(segment_path(getpid()).c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 0777, 0600u);

    VirtAddr area = test::map_anon(*space, 100 * kPageSize);
    for (std::size_t page = 0; page < 100; ++page)
        area.offset(page * kPageSize).ptr<char>()[0] = 1;
    const PublishedStats* mine = nullptr;
    std::vector<PublishedStats> all;
    for (int waited = 0; waited < 200; ++waited) {
        all = read_published_stats();
        mine = find(all, getpid());
        // Fault-around maps several pages a fault: wait for the machine's own count. (A sample
        // taken inside the last fault has its count and its frames, but not yet its pages on
        // the LRU.)
        if (mine && mine->vmstat[static_cast<unsigned>(VmStatItem::PgFault)] == test::stat_of(*machine, VmStatItem::PgFault)
            && mine->free_frames == machine->free_frames() && mine->lru[0] + mine->lru[1] == 100u)
            break;
        ::usleep(5000);
    }
    ASSERT_NE(mine, nullptr);
    EXPECT_EQ(mine->frames, 1024u);
    EXPECT_EQ(mine->vmstat[static_cast<unsigned>(VmStatItem::PgFault)], test::stat_of(*machine, VmStatItem::PgFault));
    EXPECT_EQ(mine->free_frames, machine->free_frames());
    EXPECT_EQ(mine->lru[0] + mine->lru[1], 100u);
    EXPECT_GE(mine->updated_ns, mine->started_ns);

    space.reset();
    machine.reset();
    EXPECT_NE(stat(segment_path(getpid()).c_str(), &status), 0);
    EXPECT_EQ(find(read_published_stats(), getpid()), nullptr);
    // The other machine may publish now.
    EXPECT_TRUE(other->publish_stats());
}

TEST(StatsSegment, ASegmentWhoseProcessDiedIsRemoved)
{
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        auto machine = Machine::create({ .frames = 512 });
        _exit(machine && (*machine)->publish_stats() ? 0 : 1); // no destructor: the segment stays
    }
    EXPECT_EQ(test::exit_status(child), 0);
    struct stat status {};
    ASSERT_EQ(stat(segment_path(child).c_str(), &status), 0);
    EXPECT_EQ(find(read_published_stats(), child), nullptr);
    EXPECT_NE(stat(segment_path(child).c_str(), &status), 0);
}

TEST(StatsSegment, AShortSegmentIsNeverReadAndADeadProcesssIsRemoved)
{
    // A process killed between shm_open() and ftruncate() leaves a segment of no bytes; a
    // reader that mapped it whole would die of SIGBUS.
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0)
        _exit(0);
    EXPECT_EQ(test::exit_status(child), 0);
    std::string name = "/vmemu." + std::to_string(child);
    int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    close(fd);
    EXPECT_FALSE(read_published_stats(child).has_value());
    EXPECT_EQ(find(read_published_stats(), child), nullptr);
    struct stat status {};
    EXPECT_NE(stat(segment_path(child).c_str(), &status), 0) << "the dead process's short segment stays";
}

} // namespace
} // namespace vmemu
