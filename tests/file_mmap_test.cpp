// File mappings: the page cache shared by every mapping, MAP_SHARED writeback and msync,
// MAP_PRIVATE copy-on-write, readahead, reclaim of clean and dirty file pages, truncation,
// the errors Linux gives, a writeback error reaching msync, msync'ed data surviving SIGKILL,
// and a differential run against the kernel's own mappings of the same file.
#include <csetjmp>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <random>
#include <string>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>
#include <vmemu/fs/file_io.hpp>
#include "file_support.hpp"
#include "smaps_text.hpp"

namespace vmemu {
namespace {

using test::error_of;
using test::make_space;

using test::make_file_machine;
using test::map_file;
using test::pattern;
using test::stat_of;
using test::TempFile;

TEST(FileMmap, SharedMappingReadsTheFileAndWritesBackOnMsync)
{
    auto machine = make_file_machine(4096);
    auto space = make_space(*machine);
    TempFile file(3 * kPageSize + 100);
    VirtAddr base = map_file(*space, file.fd(), 4 * kPageSize, MAP_SHARED);
    auto* bytes = base.ptr<std::uint8_t>();
    for (std::size_t i = 0; i < 3 * kPageSize + 100; ++i)
        ASSERT_EQ(bytes[i], pattern(i)) << i;
    // The rest of the last page reads as zeros; the page after it is past the end: SIGBUS.
    for (std::size_t i = 3 * kPageSize + 100; i < 4 * kPageSize; ++i)
        ASSERT_EQ(bytes[i], 0);
    EXPECT_EQ(space->handle_mm_fault(base.offset(4 * kPageSize - 1), FaultAccess::Read), FaultResult::Handled);
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrFilePages), 4);
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrDirty), 0);
    std::memcpy(bytes + 10, "vmemu", 5);
    bytes[2 * kPageSize] = 0xab;
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrDirty), 2);
    EXPECT_NE(machine->meminfo().find("Dirty:                 8 kB"), std::string::npos) << machine->meminfo();
    ASSERT_TRUE(space->msync(base, 4 * kPageSize, MS_SYNC));
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrDirty), 0);
    auto on_disk = file.contents();
    ASSERT_EQ(on_disk.size(), 3 * kPageSize + 100); // the file never grows
    EXPECT_EQ(std::memcmp(on_disk.data() + 10, "vmemu", 5), 0);
    EXPECT_EQ(on_disk[2 * kPageSize], 0xab);
    EXPECT_EQ(on_disk[kPageSize], pattern(kPageSize));
    // A write after writeback dirties the page again: it was write-protected.
    bytes[11] = 'M';
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrDirty), 1);
    ASSERT_TRUE(space->munmap(base, 4 * kPageSize));
    // The last mapping's release waits for the writeback and empties the cache.
    EXPECT_EQ(file.contents()[11], 'M');
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrFilePages), 0);
    EXPECT_EQ(machine->inodes().in_use(), 0u);
    EXPECT_GT(stat_of(*machine, VmStatItem::PgPgOut), 0);
    EXPECT_GT(stat_of(*machine, VmStatItem::PgPgIn), 0);
    machine->verify_invariants();
}

TEST(FileMmap, WritebackLeavesAPinnedPageWritableInTheKernelsView)
{
    // A read(2) into a shared file mapping, pinned for the call, while writeback cleans the
    // page: the kernel's writes must not meet a write-protected page (EFAULT).
    auto machine = make_file_machine(4096);
    auto space = make_space(*machine);
    TempFile file(2 * kPageSize);
    VirtAddr base = map_file(*space, file.fd(), 2 * kPageSize, MAP_SHARED);
    auto* bytes = base.ptr<char>();
    bytes[0] = 'd';
    PageFrame* pinned[2];
    ASSERT_EQ(space->pin_user_pages(base, kPageSize, true, pinned), 1u);
    ASSERT_TRUE(space->msync(base, 2 * kPageSize, MS_SYNC));
    EXPECT_EQ(file.contents()[0], 'd');
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    ASSERT_EQ(write(fds[1], "pinned", 6), 6);
    EXPECT_EQ(syscall(SYS_read, fds[0], bytes + 100, 6), 6) << "the pinned page was write-protected";
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrDirty), 1) << "the page stays dirty for the next writeback";
    space->unpin_user_pages(pinned, 1);
    ASSERT_TRUE(space->msync(base, 2 * kPageSize, MS_SYNC));
    EXPECT_EQ(std::memcmp(file.contents().data() + 100, "pinned", 6), 0);
    close(fds[0]);
    close(fds[1]);
    ASSERT_TRUE(space->munmap(base, 2 * kPageSize));
    machine->verify_invariants();
}

TEST(FileMmap, PrivateMappingCopiesOnWriteAndLeavesTheFileAlone)
{
    auto machine = make_file_machine(4096);
    auto space = make_space(*machine);
    TempFile file(8 * kPageSize);
    VirtAddr shared = map_file(*space, file.fd(), 8 * kPageSize, MAP_SHARED);
    VirtAddr priv = map_file(*space, file.fd(), 4 * kPageSize, MAP_PRIVATE, 4 * kPageSize);
    auto* p = priv.ptr<std::uint8_t>();
    auto* s = shared.ptr<std::uint8_t>();
    EXPECT_EQ(p[5], pattern(4 * kPageSize + 5));
    // The private mapping reads the same page-cache page as the shared one.
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrFilePages), 8); // read-around took the whole file
    p[5] = 0x11;
    EXPECT_EQ(stat_of(*machine, VmStatItem::CowFault), 1);
    EXPECT_EQ(s[4 * kPageSize + 5], pattern(4 * kPageSize + 5));
    // A write through the shared mapping shows in private pages not yet copied.
    s[5 * kPageSize] = 0x22;
    EXPECT_EQ(p[kPageSize], 0x22);
    EXPECT_EQ(p[5], 0x11);
    ASSERT_TRUE(space->munmap(priv, 4 * kPageSize));
    ASSERT_TRUE(space->munmap(shared, 8 * kPageSize));
    auto on_disk = file.contents();
    EXPECT_EQ(on_disk[4 * kPageSize + 5], pattern(4 * kPageSize + 5));
    EXPECT_EQ(on_disk[5 * kPageSize], 0x22);
    machine->verify_invariants();
}

TEST(FileMmap, EveryAddressSpaceSharesOnePageCache)
{
    auto machine = make_file_machine(4096);
    auto first = make_space(*machine);
    auto second = make_space(*machine);
    TempFile file(16 * kPageSize);
    auto* a = map_file(*first, file.fd(), 16 * kPageSize, MAP_SHARED).ptr<std::uint8_t>();
    auto* b = map_file(*second, file.fd(), 16 * kPageSize, MAP_SHARED).ptr<std::uint8_t>();
    a[3 * kPageSize] = 0x5a;
    EXPECT_EQ(b[3 * kPageSize], 0x5a);
    b[9 * kPageSize + 1] = 0xa5;
    EXPECT_EQ(a[9 * kPageSize + 1], 0xa5);
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrFilePages), 16);
    EXPECT_EQ(machine->inodes().in_use(), 1u);
    // A fork of one space shares the file too.
    auto child = first->fork();
    ASSERT_TRUE(child.has_value());
    auto* c = (*child)->reservation_start().offset(VirtAddr(a) - first->reservation_start()).ptr<std::uint8_t>();
    EXPECT_EQ(c[3 * kPageSize], 0x5a);
    c[4 * kPageSize] = 0x77;
    EXPECT_EQ(b[4 * kPageSize], 0x77);
    child->reset();
    first.reset();
    second.reset();
    EXPECT_EQ(file.contents()[4 * kPageSize], 0x77);
    EXPECT_EQ(file.contents()[9 * kPageSize + 1], 0xa5);
    EXPECT_EQ(machine->inodes().in_use(), 0u);
}

TEST(FileMmap, BadArgumentsGetTheKernelsErrors)
{
    auto machine = make_file_machine(1024);
    auto space = make_space(*machine);
    TempFile file(4 * kPageSize);
    int read_only = ::open(file.path().c_str(), O_RDONLY | O_CLOEXEC);
    int write_only = ::open(file.path().c_str(), O_WRONLY | O_CLOEXEC);
    int appending = ::open(file.path().c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
    int directory = ::open("/var/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    auto mmap_error = [&](int fd, int flags, int prot, off_t offset = 0) {
        int vmemu_error = error_of(space->mmap(VirtAddr(), kPageSize, prot, flags, fd, offset));
        // The kernel's answer to the same call, for the record.
        void* real = ::mmap(nullptr, kPageSize, prot, flags, fd, offset);
        int kernel_error = real == MAP_FAILED ? errno : 0;
        if (real != MAP_FAILED)
            ::munmap(real, kPageSize);
        EXPECT_EQ(vmemu_error, kernel_error) << "fd " << fd << " flags " << flags << " prot " << prot;
        return vmemu_error;
    };
    EXPECT_EQ(mmap_error(write_only, MAP_SHARED, PROT_READ), EACCES);
    EXPECT_EQ(mmap_error(write_only, MAP_PRIVATE, PROT_READ), EACCES);
    EXPECT_EQ(mmap_error(read_only, MAP_SHARED, PROT_READ | PROT_WRITE), EACCES);
    EXPECT_EQ(mmap_error(appending, MAP_SHARED, PROT_READ | PROT_WRITE), 0); // only chattr +a is refused
    EXPECT_EQ(mmap_error(read_only, MAP_PRIVATE, PROT_READ | PROT_WRITE), 0);
    EXPECT_EQ(mmap_error(directory, MAP_PRIVATE, PROT_READ), ENODEV);
    EXPECT_EQ(mmap_error(pipe_fds[0], MAP_PRIVATE, PROT_READ), ENODEV);
    EXPECT_EQ(mmap_error(9999, MAP_SHARED, PROT_READ), EBADF);
    EXPECT_EQ(mmap_error(file.fd(), MAP_SHARED, PROT_READ, 100), EINVAL);
    // An offset past the end maps; its touch is SIGBUS.
    auto past = space->mmap(VirtAddr(), kPageSize, PROT_READ, MAP_SHARED, read_only, 64 * kPageSize);
    ASSERT_TRUE(past.has_value());
    EXPECT_EQ(space->handle_mm_fault(*past, FaultAccess::Read), FaultResult::SigBus);
    // A read-only shared mapping of a read-only file cannot become writable.
    EXPECT_EQ(error_of(space->mprotect(*past, kPageSize, PROT_READ | PROT_WRITE)), EACCES);
    EXPECT_EQ(error_of(space->msync(*past, kPageSize, MS_SYNC | MS_ASYNC)), EINVAL);
    EXPECT_EQ(error_of(space->msync(*past, kPageSize, 0x40)), EINVAL);
    EXPECT_EQ(error_of(space->msync(past->offset(1), kPageSize, MS_SYNC)), EINVAL);
    ASSERT_TRUE(space->munmap(*past, kPageSize));
    EXPECT_EQ(error_of(space->msync(*past, kPageSize, MS_SYNC)), ENOMEM);
    EXPECT_EQ(error_of(machine->truncate(file.fd(), -1)), EINVAL);
    for (int fd : { read_only, write_only, appending, directory, pipe_fds[0], pipe_fds[1] })
        ::close(fd);
}

TEST(FileMmap, TruncationUnmapsAndTouchesPastTheEndAreSigbus)
{
    auto machine = make_file_machine(1024);
    auto space = make_space(*machine);
    TempFile file(4 * kPageSize);
    VirtAddr shared = map_file(*space, file.fd(), 4 * kPageSize, MAP_SHARED);
    VirtAddr priv = map_file(*space, file.fd(), 4 * kPageSize, MAP_PRIVATE);
    auto* s = shared.ptr<std::uint8_t>();
    auto* p = priv.ptr<std::uint8_t>();
    s[3 * kPageSize] = 1;
    p[3 * kPageSize] = 2; // a private copy: truncation takes it too, as Linux's does
    ASSERT_TRUE(machine->truncate(file.fd(), kPageSize + 10));
    EXPECT_EQ(s[kPageSize + 9], pattern(kPageSize + 9));
    EXPECT_EQ(s[kPageSize + 10], 0); // the tail of the last page is zeroed
    EXPECT_EQ(space->handle_mm_fault(shared.offset(2 * kPageSize), FaultAccess::Read), FaultResult::SigBus);
    EXPECT_EQ(space->handle_mm_fault(shared.offset(3 * kPageSize), FaultAccess::Write), FaultResult::SigBus);
    EXPECT_EQ(space->handle_mm_fault(priv.offset(3 * kPageSize), FaultAccess::Read), FaultResult::SigBus);
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrFilePages), 2);
    // Growing it again maps zeros there.
    ASSERT_TRUE(machine->truncate(file.fd(), 4 * kPageSize));
    EXPECT_EQ(s[3 * kPageSize], 0);
    space.reset();
    EXPECT_EQ(file.contents().size(), 4 * kPageSize);
}

TEST(FileMmap, TheFlusherWritesBackPastTheBackgroundRatio)
{
    // 1024 frames: past 102 dirty pages (dirty_background_ratio 10) the flusher starts
    // without any msync.
    auto machine = make_file_machine(1024);
    auto space = make_space(*machine);
    constexpr std::size_t kPages = 200;
    TempFile file(kPages * kPageSize);
    VirtAddr base = map_file(*space, file.fd(), kPages * kPageSize, MAP_SHARED);
    for (std::size_t page = 0; page < kPages; ++page)
        base.ptr<std::uint8_t>()[page * kPageSize] = 0xee;
    // Pages dirtied after a pass wait for the next one, at most dirty_writeback later.
    auto settled = [&] {
        return stat_of(*machine, VmStatItem::NrWritten) >= static_cast<std::int64_t>(kPages)
            && stat_of(*machine, VmStatItem::NrDirty) == 0 && stat_of(*machine, VmStatItem::NrWriteback) == 0;
    };
    for (int waited = 0; waited < 800 && !settled(); ++waited)
        ::usleep(10000);
    // A page the flusher cleans between its write fault and the store's retry is dirtied
    // and written once more, as in Linux; so "at least" each page once.
    EXPECT_GE(stat_of(*machine, VmStatItem::NrWritten), static_cast<std::int64_t>(kPages));
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrDirty), 0);
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrWriteback), 0);
    auto on_disk = file.contents();
    for (std::size_t page = 0; page < kPages; ++page)
        ASSERT_EQ(on_disk[page * kPageSize], 0xee) << page;
}

TEST(FileMmap, AFailedWritebackKeepsThePageDirtyAndReachesMsyncOnce)
{
    auto machine = make_file_machine(1024);
    auto space = make_space(*machine);
    TempFile file(2 * kPageSize);
    VirtAddr base = map_file(*space, file.fd(), 2 * kPageSize, MAP_SHARED);
    auto* bytes = base.ptr<std::uint8_t>();
    bytes[0] = 0x42;
    machine->file_io().inject_failures(os::IoRing::Op::Write, EIO, 1);
    EXPECT_EQ(error_of(space->msync(base, 2 * kPageSize, MS_SYNC)), EIO);
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrDirty), 1);
    EXPECT_EQ(stat_of(*machine, VmStatItem::FileWriteError), 1);
    EXPECT_EQ(file.contents()[0], pattern(0));
    // The page is written again; the error was reported once.
    EXPECT_TRUE(space->msync(base, 2 * kPageSize, MS_SYNC));
    EXPECT_EQ(file.contents()[0], 0x42);
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrDirty), 0);
}

TEST(FileMmap, ATouchPastTheEndIsSigbusAtTheAddressAndSaysNothing)
{
    auto machine = make_file_machine(256);
    auto space = make_space(*machine);
    TempFile file(kPageSize + 10);
    auto* ours = map_file(*space, file.fd(), 3 * kPageSize, MAP_SHARED).ptr<volatile std::uint8_t>();
    volatile std::uint8_t* theirs = test::kernel_map_file(file.fd(), 3 * kPageSize, MAP_SHARED);
    ASSERT_NE(theirs, nullptr);
    test::ScopedSignalHandler bus(SIGBUS, test::on_sigbus);
    for (volatile std::uint8_t* base : { ours, theirs }) {
        const char* side = base == ours ? "vmemu" : "kernel";
        testing::internal::CaptureStderr();
        for (std::size_t offset : { 2 * kPageSize, 2 * kPageSize + 5, 3 * kPageSize - 1 }) {
            for (bool write : { false, true }) {
                EXPECT_TRUE(test::sigbus_at(base + offset, write)) << side << " " << offset;
                EXPECT_EQ(test::g_bus_code, BUS_ADRERR) << side;
                EXPECT_EQ(test::g_bus_address, const_cast<std::uint8_t*>(base + offset)) << side;
            }
        }
        // The tail of the last page is there, and reads zeros.
        EXPECT_FALSE(test::sigbus_at(base + kPageSize + 10, false)) << side;
        EXPECT_EQ(base[kPageSize + 11], 0) << side;
        // Linux says nothing of it, and neither may vmemu: the program's stderr is its own.
        EXPECT_EQ(test::without_sanitizer_stack_notes(testing::internal::GetCapturedStderr()), "") << side;
    }
    ::munmap(const_cast<std::uint8_t*>(theirs), 3 * kPageSize);
}

// The line of maps text that starts at address, and the value of smaps' field there.
std::string maps_line_at(const std::string& text, const void* address)
{
    char head[32];
    std::snprintf(head, sizeof head, "%lx-", reinterpret_cast<unsigned long>(address));
    std::size_t at = text.rfind(std::string("\n") + head);
    at = at == std::string::npos ? (text.rfind(head, 0) == 0 ? 0 : std::string::npos) : at + 1;
    return at == std::string::npos ? "" : text.substr(at, text.find('\n', at) - at);
}

std::string smaps_field_at(const std::string& text, const void* address, const std::string& field)
{
    std::string line = maps_line_at(text, address);
    std::size_t vma = text.find(line);
    std::size_t at = line.empty() ? std::string::npos : text.find("\n" + field + ":", vma);
    return at == std::string::npos ? "" : text.substr(at + 1, text.find('\n', at + 1) - at - 1);
}

TEST(FileMmap, MapsAndSmapsShowTheFileAsTheKernelDoes)
{
    auto machine = make_file_machine(256);
    auto space = make_space(*machine);
    TempFile file(8 * kPageSize);
    auto* ours = map_file(*space, file.fd(), 4 * kPageSize, MAP_PRIVATE, 2 * kPageSize).ptr<std::uint8_t>();
    auto* theirs = test::kernel_map_file(file.fd(), 4 * kPageSize, MAP_PRIVATE, 2 * kPageSize);
    ASSERT_NE(theirs, nullptr);
    // Two pages read from the file, one of them then written: a copy, the only anonymous page.
    for (std::uint8_t* base : { ours, theirs }) {
        EXPECT_EQ(base[5], pattern(2 * kPageSize + 5));
        EXPECT_EQ(base[kPageSize], pattern(3 * kPageSize));
        base[kPageSize] = 7;
    }
    std::string our_maps = space->maps();
    std::string their_maps = test::read_proc_text("/proc/self/maps");
    std::string our_line = maps_line_at(our_maps, ours);
    std::string their_line = maps_line_at(their_maps, theirs);
    // Past the range, the same text: perms, offset, device, inode, the padding and the path.
    ASSERT_NE(our_line.find(' '), std::string::npos) << our_maps;
    ASSERT_EQ(our_line.find(' '), their_line.find(' ')) << our_line << "\n" << their_line;
    EXPECT_EQ(our_line.substr(our_line.find(' ')), their_line.substr(their_line.find(' ')));
    EXPECT_NE(our_line.find(" rw-p 00002000 "), std::string::npos) << our_line;
    EXPECT_NE(our_line.find(file.path()), std::string::npos) << our_line;
    std::string our_smaps = space->smaps();
    std::string their_smaps = test::read_proc_text("/proc/self/smaps");
    EXPECT_EQ(smaps_field_at(our_smaps, ours, "Anonymous"), "Anonymous:             4 kB") << our_smaps;
    EXPECT_EQ(smaps_field_at(our_smaps, ours, "Anonymous"), smaps_field_at(their_smaps, theirs, "Anonymous"));
    EXPECT_EQ(smaps_field_at(our_smaps, ours, "Rss"), smaps_field_at(their_smaps, theirs, "Rss"));
    ::munmap(theirs, 4 * kPageSize);
}

TEST(FileMmap, MremapOfLengthZeroDuplicatesASharedMappingAsLinuxDoes)
{
    auto machine = make_file_machine(256);
    auto space = make_space(*machine);
    TempFile file(16 * kPageSize);
    VirtAddr base = map_file(*space, file.fd(), 16 * kPageSize, MAP_SHARED);
    auto* ours = base.ptr<std::uint8_t>();
    auto* theirs = test::kernel_map_file(file.fd(), 16 * kPageSize, MAP_SHARED);
    ASSERT_NE(theirs, nullptr);
    // Without MREMAP_MAYMOVE it cannot grow in place: ENOMEM on both sides.
    EXPECT_EQ(error_of(space->mremap(base.page_offset(12), 0, 2 * kPageSize, 0)), ENOMEM);
    EXPECT_EQ(::mremap(theirs + 12 * kPageSize, 0, 2 * kPageSize, 0), MAP_FAILED);
    EXPECT_EQ(errno, ENOMEM);
    // With it, a second mapping of file pages 12 and 13, which sees the first one's writes.
    auto copy = space->mremap(base.page_offset(12), 0, 2 * kPageSize, MREMAP_MAYMOVE);
    ASSERT_TRUE(copy) << copy.error().what();
    ours[12 * kPageSize + 1] = 0x5a;
    EXPECT_EQ(copy->ptr<std::uint8_t>()[1], 0x5a);
    EXPECT_EQ(copy->ptr<std::uint8_t>()[kPageSize + 2], pattern(13 * kPageSize + 2));
    EXPECT_NE(maps_line_at(space->maps(), copy->ptr<void>()).find(" rw-s 0000c000 "), std::string::npos) << space->maps();
    EXPECT_NE(maps_line_at(space->maps(), ours).find(" rw-s 00000000 "), std::string::npos); // the old one stays
    // A target at the old address unmaps the source first: EFAULT, and the range is gone.
    EXPECT_EQ(error_of(space->mremap(base.page_offset(1), 0, 2 * kPageSize, MREMAP_MAYMOVE | MREMAP_FIXED,
                  base.page_offset(1))),
        EFAULT);
    EXPECT_EQ(::mremap(theirs + kPageSize, 0, 2 * kPageSize, MREMAP_MAYMOVE | MREMAP_FIXED, theirs + kPageSize), MAP_FAILED);
    EXPECT_EQ(errno, EFAULT);
    EXPECT_EQ(maps_line_at(space->maps(), base.page_offset(1).ptr<void>()), "");
    EXPECT_EQ(maps_line_at(test::read_proc_text("/proc/self/maps"), theirs + kPageSize), "");
    // A private mapping cannot be duplicated, and the target is left alone.
    VirtAddr priv = map_file(*space, file.fd(), 4 * kPageSize, MAP_PRIVATE);
    std::string before = space->maps();
    EXPECT_EQ(error_of(space->mremap(priv, 0, kPageSize, MREMAP_MAYMOVE | MREMAP_FIXED, base.page_offset(4))), EINVAL);
    EXPECT_EQ(space->maps(), before);
    ASSERT_TRUE(space->munmap(*copy, 2 * kPageSize));
    ::munmap(theirs, 16 * kPageSize);
    machine->verify_invariants();
}

TEST(FileMmap, WritesPastTheEndInTheLastPageAreZeroedAsLinuxZeroesThem)
{
    // What a mapping writes past the end of the file, in its last page, is never the file's:
    // writeback zeroes it (block_write_full_folio()), and so does growing the file
    // (pagecache_isize_extended()). The same steps on the kernel's mapping of the same file.
    auto machine = make_file_machine(256);
    auto space = make_space(*machine);
    TempFile file(kPageSize + 100);
    auto* ours = map_file(*space, file.fd(), 2 * kPageSize, MAP_SHARED).ptr<std::uint8_t>();
    auto* theirs = test::kernel_map_file(file.fd(), 2 * kPageSize, MAP_SHARED);
    ASSERT_NE(theirs, nullptr);
    auto grow = [&](std::uint8_t* base, off_t size) {
        if (base == ours)
            EXPECT_TRUE(machine->truncate(file.fd(), size));
        else
            EXPECT_EQ(::ftruncate(file.fd(), size), 0);
    };
    for (std::uint8_t* base : { ours, theirs }) {
        const char* side = base == ours ? "vmemu" : "kernel";
        base[kPageSize + 200] = 0x38;
        EXPECT_EQ(base[kPageSize + 200], 0x38) << side; // there while the page is dirty
        EXPECT_EQ(base == ours ? error_of(space->msync(VirtAddr(ours), 2 * kPageSize, MS_SYNC))
                               : (::msync(theirs, 2 * kPageSize, MS_SYNC) == 0 ? 0 : errno),
            0);
        EXPECT_EQ(base[kPageSize + 200], 0) << side << ": written back, so zeroed";
        base[kPageSize + 300] = 0x39;
        grow(base, 2 * kPageSize);
        EXPECT_EQ(base[kPageSize + 300], 0) << side << ": the file grew over it";
        base[kPageSize + 99] = 0x3a; // inside the file: kept
        grow(base, kPageSize + 100);
        EXPECT_EQ(base[kPageSize + 99], 0x3a) << side;
    }
    ::munmap(theirs, 2 * kPageSize);
    space.reset();
    EXPECT_EQ(file.contents().size(), kPageSize + 100);
    EXPECT_EQ(file.contents()[kPageSize + 99], 0x3a);
}

TEST(FileMmap, ALockedPrivateMappingMadeWritableIsCopiedAtOnceAsLinuxDoes)
{
    // mprotect_fixup(): a private VM_LOCKED mapping that becomes writable is populated with
    // write faults, so every page is a private copy from then on, and a later write to the
    // file through a shared mapping no longer shows in it. The same on the kernel's side.
    auto machine = make_file_machine(256);
    auto space = make_space(*machine);
    TempFile file(4 * kPageSize);
    auto* ours_private = map_file(*space, file.fd(), 4 * kPageSize, MAP_PRIVATE, 0, PROT_NONE).ptr<std::uint8_t>();
    auto* ours_shared = map_file(*space, file.fd(), 4 * kPageSize, MAP_SHARED).ptr<std::uint8_t>();
    auto* theirs_private = test::kernel_map_file(file.fd(), 4 * kPageSize, MAP_PRIVATE, 0, PROT_NONE);
    auto* theirs_shared = test::kernel_map_file(file.fd(), 4 * kPageSize, MAP_SHARED);
    ASSERT_NE(theirs_private, nullptr);
    ASSERT_NE(theirs_shared, nullptr);
    // The lock of a PROT_NONE mapping brings nothing in; mlock(2) says ENOMEM for it.
    EXPECT_EQ(error_of(space->mlock(VirtAddr(ours_private), 4 * kPageSize)), ENOMEM);
    EXPECT_EQ(::syscall(SYS_mlock, theirs_private, 4 * kPageSize), -1);
    ASSERT_TRUE(space->mprotect(VirtAddr(ours_private), 4 * kPageSize, PROT_READ | PROT_WRITE));
    ASSERT_EQ(::mprotect(theirs_private, 4 * kPageSize, PROT_READ | PROT_WRITE), 0);
    ours_shared[2 * kPageSize + 5] = 0x77;
    theirs_shared[2 * kPageSize + 5] = 0x77;
    EXPECT_EQ(ours_private[2 * kPageSize + 5], pattern(2 * kPageSize + 5));
    EXPECT_EQ(theirs_private[2 * kPageSize + 5], pattern(2 * kPageSize + 5));
    std::string smaps = space->smaps();
    EXPECT_EQ(smaps_field_at(smaps, ours_private, "Anonymous"), "Anonymous:            16 kB") << smaps;
    EXPECT_EQ(smaps_field_at(smaps, ours_private, "Anonymous"),
        smaps_field_at(test::read_proc_text("/proc/self/smaps"), theirs_private, "Anonymous"));
    ::munmap(theirs_private, 4 * kPageSize);
    ::munmap(theirs_shared, 4 * kPageSize);
}

TEST(FileMmap, AFailedReadIsSigbusAndTheNextTouchReadsAgain)
{
    auto machine = make_file_machine(1024);
    auto space = make_space(*machine);
    TempFile file(kPageSize);
    VirtAddr base = map_file(*space, file.fd(), kPageSize, MAP_SHARED);
    machine->file_io().inject_failures(os::IoRing::Op::Read, EIO, 2);
    EXPECT_EQ(space->handle_mm_fault(base, FaultAccess::Read), FaultResult::IoError);
    EXPECT_EQ(base.ptr<std::uint8_t>()[7], pattern(7));
}

TEST(FileMmap, MsyncedDataSurvivesSigkill)
{
    TempFile file(4 * kPageSize);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        auto machine = Machine::create({ .frames = 1024 });
        if (!machine)
            _exit(2);
        auto space = (*machine)->create_address_space(std::size_t { 1 } << 30);
        if (!space)
            _exit(2);
        auto base = (*space)->mmap(VirtAddr(), 4 * kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd(), 0);
        if (!base)
            _exit(3);
        std::memcpy(base->ptr<char>() + kPageSize, "survives", 8);
        if (!(*space)->msync(*base, 4 * kPageSize, MS_SYNC))
            _exit(4);
        std::memcpy(base->ptr<char>() + 2 * kPageSize, "lost", 4); // never synced
        ::kill(::getpid(), SIGKILL);
        _exit(5);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    auto on_disk = file.contents();
    EXPECT_EQ(std::memcmp(on_disk.data() + kPageSize, "survives", 8), 0);
    EXPECT_NE(std::memcmp(on_disk.data() + 2 * kPageSize, "lost", 4), 0);
}

TEST(FileMmap, ReadaheadFollowsTheAccessPattern)
{
    auto machine = make_file_machine(8192);
    auto space = make_space(*machine);
    constexpr std::size_t kPages = 1024;
    TempFile file(kPages * kPageSize);
    // Sequential: windows grow, and most touches find their page mapped around them.
    VirtAddr seq = map_file(*space, file.fd(), kPages * kPageSize, MAP_SHARED, 0, PROT_READ);
    ASSERT_TRUE(space->madvise(seq, kPages * kPageSize, MADV_SEQUENTIAL));
    std::uint64_t sum = 0;
    for (std::size_t page = 0; page < kPages; ++page)
        sum += seq.ptr<std::uint8_t>()[page * kPageSize + 3] == pattern(page * kPageSize + 3);
    EXPECT_EQ(sum, kPages);
    std::int64_t sequential_major = stat_of(*machine, VmStatItem::PgMajFault);
    EXPECT_LE(sequential_major, static_cast<std::int64_t>(kPages / 16));
    EXPECT_GT(stat_of(*machine, VmStatItem::PgFaultAround), static_cast<std::int64_t>(kPages / 2));
    ASSERT_TRUE(space->munmap(seq, kPages * kPageSize));
    // Random: one page per miss, nothing around it.
    VirtAddr random = map_file(*space, file.fd(), kPages * kPageSize, MAP_SHARED, 0, PROT_READ);
    ASSERT_TRUE(space->madvise(random, kPages * kPageSize, MADV_RANDOM));
    std::int64_t files_before = stat_of(*machine, VmStatItem::NrFilePages);
    EXPECT_EQ(files_before, 0);
    for (std::size_t page = 0; page < kPages; page += 7)
        EXPECT_EQ(random.ptr<std::uint8_t>()[page * kPageSize], pattern(page * kPageSize));
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrFilePages), static_cast<std::int64_t>((kPages + 6) / 7));
    // MADV_WILLNEED reads the rest ahead; the touches that follow wait for no read.
    ASSERT_TRUE(space->madvise(random, kPages * kPageSize, MADV_WILLNEED));
    std::int64_t major = stat_of(*machine, VmStatItem::PgMajFault);
    for (std::size_t page = 0; page < kPages; ++page)
        ASSERT_EQ(random.ptr<std::uint8_t>()[page * kPageSize + 9], pattern(page * kPageSize + 9));
    EXPECT_EQ(stat_of(*machine, VmStatItem::PgMajFault), major);
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrFilePages), static_cast<std::int64_t>(kPages));
}

TEST(FileMmap, ReclaimDropsCleanPagesAndWritesDirtyOnesBack)
{
    // 4 MiB of frames and a 24 MiB file: reading it all must drop clean pages, and writing
    // it all must write dirty ones back, never to swap (there is none).
    auto machine = make_file_machine(1024);
    auto space = make_space(*machine);
    constexpr std::size_t kPages = 6144;
    TempFile file(kPages * kPageSize);
    VirtAddr base = map_file(*space, file.fd(), kPages * kPageSize, MAP_SHARED);
    auto* bytes = base.ptr<std::uint8_t>();
    for (int pass = 0; pass < 2; ++pass) {
        for (std::size_t page = 0; page < kPages; ++page)
            ASSERT_EQ(bytes[page * kPageSize + 1], pattern(page * kPageSize + 1)) << page;
    }
    EXPECT_GT(stat_of(*machine, VmStatItem::PgStealKswapd) + stat_of(*machine, VmStatItem::PgStealDirect),
        static_cast<std::int64_t>(kPages));
    EXPECT_GT(stat_of(*machine, VmStatItem::WorkingsetRefaultFile), 0);
    for (std::size_t page = 0; page < kPages; ++page)
        bytes[page * kPageSize + 1] = static_cast<std::uint8_t>(page * 3);
    for (std::size_t page = 0; page < kPages; ++page)
        ASSERT_EQ(bytes[page * kPageSize + 1], static_cast<std::uint8_t>(page * 3)) << page;
    EXPECT_GT(stat_of(*machine, VmStatItem::NrWritten), 0);
    ASSERT_TRUE(space->munmap(base, kPages * kPageSize));
    auto on_disk = file.contents();
    for (std::size_t page = 0; page < kPages; ++page) {
        ASSERT_EQ(on_disk[page * kPageSize + 1], static_cast<std::uint8_t>(page * 3)) << page;
        ASSERT_EQ(on_disk[page * kPageSize + 2], pattern(page * kPageSize + 2)) << page;
    }
    machine->verify_invariants();
}

TEST(FileMmap, ReclaimSwapsAnonymousMemoryWhileTheCacheIsDirty)
{
    // 4 MiB of frames, half a dirty shared file mapping and half anonymous memory, written in
    // turns. The cache is a fair part of memory, yet its pages are dirty or under writeback and
    // free nothing at once: reclaim must turn to anonymous memory and swap it, not give up
    // and run out of memory. No kswapd: the faults reclaim for themselves.
    auto created = Machine::create(MachineConfig { .frames = 1024, .swap = SwapDeviceConfig { .bytes = 64 * test::kMiB },
        .kswapd = false });
    ASSERT_TRUE(created) << created.error().what();
    auto machine = std::move(*created);
    auto space = make_space(*machine);
    constexpr std::size_t kPages = 1024;
    TempFile file(kPages * kPageSize);
    VirtAddr mapped = map_file(*space, file.fd(), kPages * kPageSize, MAP_SHARED);
    auto anon = space->mmap(VirtAddr(), kPages * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    ASSERT_TRUE(anon);
    auto* file_bytes = mapped.ptr<std::uint8_t>();
    auto* anon_bytes = anon->ptr<std::uint8_t>();
    // The file's writer and the anonymous one run at once, as a program's threads would.
    constexpr int kRounds = 6;
    std::thread file_writer([&] {
        for (int round = 0; round < kRounds; ++round) {
            for (std::size_t page = 0; page < kPages; ++page)
                file_bytes[page * kPageSize] = static_cast<std::uint8_t>(page + round);
        }
    });
    for (int round = 0; round < kRounds; ++round) {
        for (std::size_t page = 0; page < kPages; ++page)
            anon_bytes[page * kPageSize] = static_cast<std::uint8_t>(page * 7 + round);
    }
    file_writer.join();
    for (std::size_t page = 0; page < kPages; ++page) {
        ASSERT_EQ(file_bytes[page * kPageSize], static_cast<std::uint8_t>(page + kRounds - 1)) << page;
        ASSERT_EQ(anon_bytes[page * kPageSize], static_cast<std::uint8_t>(page * 7 + kRounds - 1)) << page;
    }
    EXPECT_GT(stat_of(*machine, VmStatItem::PswpOut), 0);
    EXPECT_EQ(stat_of(*machine, VmStatItem::OomKill), 0);
    machine->verify_invariants();
}

TEST(FileMmap, AFaultWithNoFrameToSpareForReadAroundStillReadsItsPage)
{
    // Read-around reads a window centred on the faulting page, and only the run of missing
    // pages with the faulting one in it may reclaim. A cached page splits the window here, so
    // the run before it is a bet; with no frame free at all it gets none, and the fault must
    // still go on to its own run, reclaim, and read its page.
    auto created = Machine::create(MachineConfig { .frames = 1024, .kswapd = false });
    ASSERT_TRUE(created) << created.error().what();
    auto machine = std::move(*created);
    auto space = make_space(*machine);
    constexpr std::size_t kPages = 2048;
    constexpr std::size_t kFaulting = 1500;
    TempFile file(kPages * kPageSize);
    VirtAddr base = map_file(*space, file.fd(), kPages * kPageSize, MAP_SHARED, 0, PROT_READ);
    auto* bytes = base.ptr<const volatile std::uint8_t>();
    // Clean cached pages, for reclaim to take.
    for (std::size_t page = 0; page < 128; ++page)
        ASSERT_EQ(bytes[page * kPageSize], pattern(page * kPageSize));
    // One page cached inside the coming window, read alone (MADV_RANDOM reads no more).
    ASSERT_TRUE(space->madvise(base, kPages * kPageSize, MADV_RANDOM));
    ASSERT_EQ(bytes[(kFaulting - 5) * kPageSize], pattern((kFaulting - 5) * kPageSize));
    ASSERT_TRUE(space->madvise(base, kPages * kPageSize, MADV_NORMAL));
    // Then not one frame free.
    PageAllocator& allocator = machine->page_allocator();
    std::vector<Pfn> taken;
    while (auto pfn = allocator.alloc_page(ZeroFill::No, MayReclaim::No))
        taken.push_back(*pfn);
    ASSERT_EQ(machine->free_frames(), 0u);
    EXPECT_EQ(bytes[kFaulting * kPageSize + 5], pattern(kFaulting * kPageSize + 5));
    for (Pfn pfn : taken)
        allocator.free_page(pfn);
    EXPECT_GT(stat_of(*machine, VmStatItem::PgStealDirect), 0);
    machine->verify_invariants();
}

TEST(FileMmap, TracepointsNameThePageCacheEvents)
{
    auto machine = make_file_machine(1024);
    auto space = make_space(*machine);
    TempFile file(2 * kPageSize);
    ASSERT_TRUE(trace::start(1024, 16));
    {
        VirtAddr base = map_file(*space, file.fd(), 2 * kPageSize, MAP_SHARED, 0, PROT_READ);
        EXPECT_EQ(base.ptr<std::uint8_t>()[0], pattern(0));
        ASSERT_TRUE(space->munmap(base, 2 * kPageSize));
    }
    trace::stop();
    std::string trace = test::ftrace_text();
    EXPECT_NE(trace.find("mm_filemap_add_to_page_cache: dev "), std::string::npos) << trace;
    EXPECT_NE(trace.find("mm_filemap_delete_from_page_cache: dev "), std::string::npos);
    EXPECT_NE(trace.find(" ofs=4096 order=0"), std::string::npos);
}

// The same operations on the kernel's mappings of one file and on vmemu's of an identical
// file: what every read returns, and what the files hold, must agree.
TEST(FileMmap, DifferentialAgainstTheKernel)
{
    auto machine = make_file_machine(2048);
    auto space = make_space(*machine);
    constexpr std::size_t kFilePages = 64;
    TempFile kernel_file(kFilePages * kPageSize);
    TempFile vmemu_file(kFilePages * kPageSize);
    struct Mapping {
        std::uint8_t* kernel;
        std::uint8_t* vmemu;
        std::size_t pages;
        std::size_t first; // file page
        bool shared;
    };
    std::vector<Mapping> mappings;
    std::mt19937_64 random(42);
    std::size_t operations = 0;
    for (int step = 0; step < 3000; ++step) {
        int op = static_cast<int>(random() % 10);
        if (mappings.empty() || op == 0) {
            std::size_t first = random() % kFilePages;
            std::size_t pages = 1 + random() % (kFilePages - first);
            bool shared = random() % 3 != 0;
            int flags = shared ? MAP_SHARED : MAP_PRIVATE;
            auto offset = static_cast<off_t>(first * kPageSize);
            void* real = ::mmap(nullptr, pages * kPageSize, PROT_READ | PROT_WRITE, flags, kernel_file.fd(), offset);
            ASSERT_NE(real, MAP_FAILED);
            VirtAddr ours = map_file(*space, vmemu_file.fd(), pages * kPageSize, flags, offset);
            mappings.push_back({ static_cast<std::uint8_t*>(real), ours.ptr<std::uint8_t>(), pages, first, shared });
        } else if (op == 1 && mappings.size() > 1) {
            std::size_t which = random() % mappings.size();
            ASSERT_EQ(::munmap(mappings[which].kernel, mappings[which].pages * kPageSize), 0);
            ASSERT_TRUE(space->munmap(VirtAddr(mappings[which].vmemu), mappings[which].pages * kPageSize));
            mappings.erase(mappings.begin() + static_cast<std::ptrdiff_t>(which));
        } else if (op == 2) {
            Mapping& m = mappings[random() % mappings.size()];
            ASSERT_EQ(::msync(m.kernel, m.pages * kPageSize, MS_SYNC), 0);
            auto synced = space->msync(VirtAddr(m.vmemu), m.pages * kPageSize, MS_SYNC);
            ASSERT_TRUE(synced) << synced.error().what();
        } else if (op == 3 && random() % 4 == 0) {
            // Truncate to a size the mappings still cover, then back to whole: the pages in
            // between are lost, and read zeros afterwards in both.
            std::size_t bytes = (kFilePages / 2 + random() % (kFilePages / 2)) * kPageSize + random() % kPageSize;
            ASSERT_EQ(::ftruncate(kernel_file.fd(), static_cast<off_t>(bytes)), 0);
            ASSERT_TRUE(machine->truncate(vmemu_file.fd(), static_cast<off_t>(bytes)));
            ASSERT_EQ(::ftruncate(kernel_file.fd(), kFilePages * kPageSize), 0);
            ASSERT_TRUE(machine->truncate(vmemu_file.fd(), kFilePages * kPageSize));
        } else {
            Mapping& m = mappings[random() % mappings.size()];
            std::size_t offset = random() % (m.pages * kPageSize);
            std::size_t length = std::min<std::size_t>(1 + random() % 300, m.pages * kPageSize - offset);
            if (op % 2) {
                auto value = static_cast<std::uint8_t>(random());
                std::memset(m.kernel + offset, value, length);
                std::memset(m.vmemu + offset, value, length);
            } else {
                ASSERT_EQ(std::memcmp(m.kernel + offset, m.vmemu + offset, length), 0)
                    << "step " << step << " offset " << offset << (m.shared ? " shared" : " private");
            }
        }
        ++operations;
    }
    // Every mapping reads the same, then the files hold the same once all is synced.
    for (Mapping& m : mappings) {
        ASSERT_EQ(std::memcmp(m.kernel, m.vmemu, m.pages * kPageSize), 0);
        ASSERT_EQ(::munmap(m.kernel, m.pages * kPageSize), 0);
        ASSERT_TRUE(space->munmap(VirtAddr(m.vmemu), m.pages * kPageSize));
    }
    EXPECT_EQ(kernel_file.contents(), vmemu_file.contents());
    EXPECT_EQ(operations, 3000u);
}

} // namespace
} // namespace vmemu
