// read(2), write(2) and fsync(2) of files that vmemu maps (fs/read_write.hpp): a write through
// the kernel reaches every mapping, a read or fsync sees the mappings' stores, and a fork
// child never writes back the parent's dirty pages.
#include <atomic>
#include <cstring>
#include <thread>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vmemu/fs/inode.hpp>
#include <vmemu/fs/inode_cache.hpp>
#include <vmemu/fs/read_write.hpp>
#include <vmemu/fs/writeback.hpp>
#include "file_support.hpp"

namespace vmemu {
namespace {

using test::exit_status;
using test::fork_with;
using test::make_file_machine;
using test::make_space;
using test::map_file;
using test::pattern;
using test::stat_of;
using test::TempFile;

// pwrite(2) through a CachedWrite, as the shim makes it.
ssize_t cached_pwrite(Machine& machine, int fd, const void* data, std::size_t bytes, off_t offset)
{
    CachedWrite write(machine, fd, static_cast<std::uint64_t>(offset), bytes);
    ssize_t written = ::pwrite(fd, data, bytes, offset);
    if (written > 0) {
        iovec vector { const_cast<void*>(data), static_cast<std::size_t>(written) };
        write.commit(&vector, 1, static_cast<std::uint64_t>(offset), static_cast<std::size_t>(written));
    }
    return written;
}

TEST(FileReadWrite, AWriteThroughTheKernelReachesEveryMapping)
{
    auto machine = make_file_machine(1024);
    auto space = make_space(*machine);
    TempFile file(4 * kPageSize);
    VirtAddr shared = map_file(*space, file.fd(), 8 * kPageSize, MAP_SHARED);
    VirtAddr priv = map_file(*space, file.fd(), 4 * kPageSize, MAP_PRIVATE);
    auto* s = shared.ptr<std::uint8_t>();
    auto* p = priv.ptr<std::uint8_t>();
    ASSERT_EQ(s[0], pattern(0)); // caches the first pages (fault-around: all four)
    ASSERT_EQ(p[kPageSize], pattern(kPageSize));
    s[2 * kPageSize] = 0x5a; // dirty, not written back
    // A write across pages 0 to 2, in the middle of the dirty one's bytes too.
    std::vector<std::uint8_t> data(2 * kPageSize + 200, 0xc3);
    ASSERT_EQ(cached_pwrite(*machine, file.fd(), data.data(), data.size(), 100), static_cast<ssize_t>(data.size()));
    EXPECT_EQ(s[99], pattern(99));
    EXPECT_EQ(s[100], 0xc3);
    EXPECT_EQ(s[kPageSize + 7], 0xc3);
    EXPECT_EQ(p[kPageSize + 7], 0xc3); // a private mapping sees the file until its first write
    EXPECT_EQ(s[2 * kPageSize + 299], 0xc3);
    EXPECT_EQ(s[2 * kPageSize + 300], pattern(2 * kPageSize + 300));
    // The store at 2 * kPageSize was overwritten by the later write, as in Linux.
    EXPECT_EQ(s[2 * kPageSize], 0xc3);
    // Growing the file: the mapping reaches the new bytes, with no SIGBUS.
    std::uint8_t tail[10];
    std::memset(tail, 0x7e, sizeof tail);
    ASSERT_EQ(cached_pwrite(*machine, file.fd(), tail, sizeof tail, 5 * kPageSize), 10);
    EXPECT_EQ(s[5 * kPageSize + 9], 0x7e);
    EXPECT_EQ(s[5 * kPageSize + 10], 0);
    ASSERT_TRUE(space->msync(shared, 8 * kPageSize, MS_SYNC));
    auto on_disk = file.contents();
    ASSERT_EQ(on_disk.size(), 5 * kPageSize + 10);
    EXPECT_EQ(on_disk[100], 0xc3);
    EXPECT_EQ(on_disk[2 * kPageSize], 0xc3);
    EXPECT_EQ(on_disk[3 * kPageSize], pattern(3 * kPageSize));
    EXPECT_EQ(on_disk[5 * kPageSize], 0x7e);
}

TEST(FileReadWrite, AWriteToUncachedPagesLeavesTheCacheAlone)
{
    auto machine = make_file_machine(1024);
    auto space = make_space(*machine);
    TempFile file(64 * kPageSize);
    VirtAddr shared = map_file(*space, file.fd(), 64 * kPageSize, MAP_SHARED);
    ASSERT_TRUE(space->madvise(shared, 64 * kPageSize, MADV_RANDOM));
    auto* s = shared.ptr<std::uint8_t>();
    ASSERT_EQ(s[0], pattern(0));
    std::int64_t cached = stat_of(*machine, VmStatItem::NrFilePages);
    std::uint8_t byte = 0x11;
    ASSERT_EQ(cached_pwrite(*machine, file.fd(), &byte, 1, 40 * kPageSize + 3), 1);
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrFilePages), cached);
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrDirty), 0);
    EXPECT_EQ(s[40 * kPageSize + 3], 0x11); // read from the file at the fault
}

TEST(FileReadWrite, ReadAndFsyncSeeTheMappingsStores)
{
    auto machine = make_file_machine(1024);
    auto space = make_space(*machine);
    TempFile file(4 * kPageSize);
    VirtAddr shared = map_file(*space, file.fd(), 4 * kPageSize, MAP_SHARED);
    auto* s = shared.ptr<std::uint8_t>();
    s[kPageSize + 1] = 0x42;
    s[3 * kPageSize] = 0x43;
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrDirty), 2);
    // A read of page 1 writes back page 1 only.
    EXPECT_EQ(write_and_wait_cached_range(*machine, file.fd(), kPageSize, 10), 0);
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrDirty), 1);
    std::uint8_t byte = 0;
    ASSERT_EQ(::pread(file.fd(), &byte, 1, kPageSize + 1), 1);
    EXPECT_EQ(byte, 0x42);
    // fsync(2): all of it, and a failed write is its error, once.
    machine->file_io().inject_failures(os::IoRing::Op::Write, EIO, 1);
    EXPECT_EQ(write_and_wait_cached_range(*machine, file.fd(), 0, 4 * kPageSize), EIO);
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrDirty), 1); // the page stays dirty
    EXPECT_EQ(write_and_wait_cached_range(*machine, file.fd(), 0, 4 * kPageSize), 0);
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrDirty), 0);
    ASSERT_EQ(::pread(file.fd(), &byte, 1, 3 * kPageSize), 1);
    EXPECT_EQ(byte, 0x43);
    // A file vmemu does not map: nothing to do.
    TempFile other(kPageSize);
    EXPECT_EQ(write_and_wait_cached_range(*machine, other.fd(), 0, kPageSize), 0);
}

TEST(FileReadWrite, AReadWaitsForTheWritesAlreadyInFlight)
{
    auto machine = make_file_machine(1024);
    auto space = make_space(*machine);
    constexpr std::size_t kPages = 64;
    TempFile file(kPages * kPageSize);
    VirtAddr shared = map_file(*space, file.fd(), kPages * kPageSize, MAP_SHARED);
    auto* s = shared.ptr<std::uint8_t>();
    Inode* inode = machine->inodes().find(file.fd());
    ASSERT_NE(inode, nullptr);
    for (std::uint8_t round = 1; round <= 50; ++round) {
        for (std::size_t page = 0; page < kPages; ++page)
            s[page * kPageSize] = round;
        // The writes start (the flusher's way: no waiting), so the pages are no longer dirty.
        machine->writeback().writeback_range(*inode, 0, kPages - 1, false);
        ASSERT_EQ(write_and_wait_cached_range(*machine, file.fd(), 0, kPages * kPageSize), 0);
        std::uint8_t byte = 0;
        ASSERT_EQ(::pread(file.fd(), &byte, 1, (kPages - 1) * kPageSize), 1);
        ASSERT_EQ(byte, round);
    }
    machine->inodes().put(*inode);
}

TEST(FileReadWrite, AForkWaitsForAWriteThroughTheCache)
{
    auto machine = make_file_machine(1024);
    auto space = make_space(*machine);
    TempFile file(4 * kPageSize);
    VirtAddr shared = map_file(*space, file.fd(), 4 * kPageSize, MAP_SHARED);
    ASSERT_EQ(shared.ptr<std::uint8_t>()[0], pattern(0));
    std::atomic<bool> writing { false };
    std::thread writer([&] {
        std::uint8_t data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
        CachedWrite write(*machine, file.fd(), 0, sizeof data);
        writing.store(true);
        ::usleep(50000); // fork() comes now, and must wait
        ASSERT_EQ(::pwrite(file.fd(), data, sizeof data, 0), 8);
        iovec vector { data, sizeof data };
        write.commit(&vector, 1, 0, sizeof data);
    });
    while (!writing.load())
        ::usleep(100);
    pid_t child = fork_with(*machine, [&] {
        alarm(10);
        // No page lock or reference of the writer's came along: truncation can empty the cache.
        bool ok = shared.ptr<std::uint8_t>()[0] == 1 && machine->truncate(file.fd(), 0).has_value();
        return ok ? 0 : 1;
    });
    writer.join();
    EXPECT_EQ(exit_status(child), 0);
}

TEST(FileReadWrite, AForkChildNeverWritesBackTheParentsDirtyPages)
{
    auto machine = make_file_machine(1024);
    auto space = make_space(*machine);
    TempFile file(4 * kPageSize);
    VirtAddr shared = map_file(*space, file.fd(), 4 * kPageSize, MAP_SHARED);
    auto* s = shared.ptr<std::uint8_t>();
    s[0] = 0xa1; // dirty at fork()
    int go[2];
    ASSERT_EQ(::pipe(go), 0);
    pid_t child = fork_with(*machine, [&] {
        ::close(go[1]);
        char byte;
        bool ok = ::read(go[0], &byte, 1) == 0; // the parent has written back
        // The child sees its snapshot, clean; writing everything back writes nothing.
        ok = ok && s[0] == 0xa1 && machine->stat().value(VmStatItem::NrDirty) == 0;
        write_and_wait_all_cached(*machine);
        // Its own stores are its own, and reach the file by whole pages.
        s[2 * kPageSize + 5] = 0xc5;
        ok = ok && machine->stat().value(VmStatItem::NrDirty) == 1;
        ok = ok && space->msync(shared, 4 * kPageSize, MS_SYNC).has_value();
        // A file fault in the child reads through its own rings.
        ok = ok && space->madvise(shared.offset(3 * kPageSize), kPageSize, MADV_DONTNEED).has_value();
        ok = ok && s[3 * kPageSize] == pattern(3 * kPageSize);
        return ok ? 0 : 1;
    });
    ::close(go[0]);
    s[0] = 0xb2;
    ASSERT_TRUE(space->msync(shared, 4 * kPageSize, MS_SYNC));
    ::close(go[1]);
    EXPECT_EQ(exit_status(child), 0);
    auto on_disk = file.contents();
    EXPECT_EQ(on_disk[0], 0xb2); // not the child's stale 0xa1
    EXPECT_EQ(on_disk[2 * kPageSize + 5], 0xc5);
}

} // namespace
} // namespace vmemu
