// Bad input to every public function of the library: each call gets the kernel's errno (or
// vmemu's documented one), and loses nothing: the address space's maps and the bytes of a
// mapping beside it are the same after the refused call. tests/README.md has the table this
// file implements, case by case.
#include <atomic>
#include <climits>
#include <fcntl.h>
#include <functional>
#include <thread>
#include <vector>
#include <vmemu/base/parse_size.hpp>
#include <vmemu/os/memory.hpp>
#include "file_support.hpp"
#include "test_support.hpp"

namespace vmemu {
namespace {

using test::map_anon;

struct Case {
    const char* what;
    int expected;
    std::function<int()> call; // the errno the call gave, 0 for success
};

// An address space with 4 pages mapped and written, which no refused call may change.
class BadInput : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_machine = test::make_swapping_machine(1024, 8 * test::kMiB, false);
        m_space = test::make_space(*m_machine, 64 * test::kMiB);
        m_area = map_anon(*m_space, 4 * kPageSize);
        for (std::size_t i = 0; i < 4 * kPageSize; ++i)
            m_area.ptr<unsigned char>()[i] = static_cast<unsigned char>(i * 7 + 1);
    }
    bool area_intact() const
    {
        for (std::size_t i = 0; i < 4 * kPageSize; ++i)
            if (m_area.ptr<unsigned char>()[i] != static_cast<unsigned char>(i * 7 + 1))
                return false;
        return true;
    }
    void expect_all(const std::vector<Case>& cases)
    {
        for (const Case& c : cases) {
            std::string maps_before = m_space->maps();
            EXPECT_EQ(c.call(), c.expected) << c.what;
            EXPECT_EQ(m_space->maps(), maps_before) << c.what << ": the refused call changed the VMAs";
            EXPECT_TRUE(area_intact()) << c.what << ": the refused call changed the bytes beside it";
        }
        m_space->verify_invariants();
    }
    VirtAddr start() const { return m_space->reservation_start(); }
    VirtAddr end() const { return m_space->reservation_end(); }
    // A place where nothing is mapped (mmap() places the area at the top).
    VirtAddr hole() const { return start().offset(test::kMiB); }

    std::unique_ptr<Machine> m_machine;
    std::unique_ptr<AddressSpace> m_space;
    VirtAddr m_area;
};

constexpr int kRw = PROT_READ | PROT_WRITE;
constexpr int kAnon = MAP_PRIVATE | MAP_ANONYMOUS;

TEST_F(BadInput, Mmap)
{
    test::TempFile file(4 * kPageSize);
    int wronly = ::open(file.path().c_str(), O_WRONLY | O_CLOEXEC);
    int directory = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    auto mmap = [&](VirtAddr hint, std::size_t length, int prot, int flags, int fd = -1, off_t offset = 0) {
        return test::error_of(m_space->mmap(hint, length, prot, flags, fd, offset));
    };
    expect_all({
        { "length 0", EINVAL, [&] { return mmap(VirtAddr(), 0, kRw, kAnon); } },
        { "length rounds past the top", ENOMEM, [&] { return mmap(VirtAddr(), SIZE_MAX, kRw, kAnon); } },
        { "no map type", EINVAL, [&] { return mmap(VirtAddr(), kPageSize, kRw, MAP_ANONYMOUS); } },
        { "an unknown flag", EINVAL, [&] { return mmap(VirtAddr(), kPageSize, kRw, kAnon | 0x40000000); } },
        { "an unknown flag, MAP_SHARED_VALIDATE", EOPNOTSUPP,
            [&] { return mmap(VirtAddr(), kPageSize, kRw, MAP_SHARED_VALIDATE | MAP_ANONYMOUS | 0x40000000); } },
        { "an unknown prot bit", EINVAL, [&] { return mmap(VirtAddr(), kPageSize, kRw | 0x100, kAnon); } },
        { "MAP_GROWSDOWN", EOPNOTSUPP, [&] { return mmap(VirtAddr(), kPageSize, kRw, kAnon | MAP_GROWSDOWN); } },
        { "MAP_HUGETLB", EOPNOTSUPP, [&] { return mmap(VirtAddr(), kPageSize, kRw, kAnon | MAP_HUGETLB); } },
        { "shared anonymous", EOPNOTSUPP, [&] { return mmap(VirtAddr(), kPageSize, kRw, MAP_SHARED | MAP_ANONYMOUS); } },
        { "a file offset not page-aligned", EINVAL, [&] { return mmap(VirtAddr(), kPageSize, PROT_READ, MAP_PRIVATE, file.fd(), 100); } },
        { "no descriptor", EBADF, [&] { return mmap(VirtAddr(), kPageSize, PROT_READ, MAP_PRIVATE, -1); } },
        { "a closed descriptor", EBADF, [&] { return mmap(VirtAddr(), kPageSize, PROT_READ, MAP_PRIVATE, 9999); } },
        { "a directory", ENODEV, [&] { return mmap(VirtAddr(), kPageSize, PROT_READ, MAP_PRIVATE, directory); } },
        { "a write-only descriptor", EACCES, [&] { return mmap(VirtAddr(), kPageSize, PROT_READ, MAP_PRIVATE, wronly); } },
        { "a negative offset", EOVERFLOW, [&] { return mmap(VirtAddr(), kPageSize, PROT_READ, MAP_PRIVATE, file.fd(), -kPageSize); } },
        { "longer than the reservation", ENOMEM, [&] { return mmap(VirtAddr(), 128 * test::kMiB, kRw, kAnon); } },
        { "MAP_FIXED not page-aligned", EINVAL, [&] { return mmap(hole().offset(1), kPageSize, kRw, kAnon | MAP_FIXED); } },
        { "MAP_FIXED outside the reservation", ENOMEM, [&] { return mmap(end(), kPageSize, kRw, kAnon | MAP_FIXED); } },
        { "MAP_FIXED_NOREPLACE over a mapping", EEXIST,
            [&] { return mmap(m_area, kPageSize, kRw, kAnon | MAP_FIXED_NOREPLACE); } },
    });
    ::close(wronly);
    ::close(directory);
}

TEST_F(BadInput, MunmapMprotectMadviseMsync)
{
    auto error = [](const VmResult<void>& result) { return test::error_of(result); };
    expect_all({
        { "munmap: not page-aligned", EINVAL, [&] { return error(m_space->munmap(m_area.offset(1), kPageSize)); } },
        { "munmap: length 0", EINVAL, [&] { return error(m_space->munmap(m_area, 0)); } },
        { "munmap: overflow", EINVAL, [&] { return error(m_space->munmap(m_area, SIZE_MAX)); } },
        { "munmap: outside the reservation", EINVAL, [&] { return error(m_space->munmap(end(), kPageSize)); } },
        { "mprotect: not page-aligned", EINVAL, [&] { return error(m_space->mprotect(m_area.offset(1), kPageSize, PROT_READ)); } },
        { "mprotect: an unknown prot bit", EINVAL, [&] { return error(m_space->mprotect(m_area, kPageSize, 0x100)); } },
        { "mprotect: overflow", ENOMEM, [&] { return error(m_space->mprotect(m_area, SIZE_MAX, PROT_READ)); } },
        { "mprotect: nothing mapped", ENOMEM, [&] { return error(m_space->mprotect(hole(), kPageSize, PROT_READ)); } },
        { "mprotect: outside the reservation", ENOMEM, [&] { return error(m_space->mprotect(end(), kPageSize, PROT_READ)); } },
        { "madvise: unknown advice", EINVAL, [&] { return error(m_space->madvise(m_area, kPageSize, 12345)); } },
        { "madvise: not page-aligned", EINVAL, [&] { return error(m_space->madvise(m_area.offset(1), kPageSize, MADV_DONTNEED)); } },
        { "madvise: overflow", EINVAL, [&] { return error(m_space->madvise(m_area, SIZE_MAX, MADV_DONTNEED)); } },
        { "madvise: nothing mapped", ENOMEM, [&] { return error(m_space->madvise(hole(), kPageSize, MADV_DONTNEED)); } },
        { "msync: unknown flags", EINVAL, [&] { return error(m_space->msync(m_area, kPageSize, 0x100)); } },
        { "msync: not page-aligned", EINVAL, [&] { return error(m_space->msync(m_area.offset(1), kPageSize, MS_SYNC)); } },
        { "msync: MS_ASYNC and MS_SYNC", EINVAL, [&] { return error(m_space->msync(m_area, kPageSize, MS_ASYNC | MS_SYNC)); } },
        { "msync: overflow", ENOMEM, [&] { return error(m_space->msync(m_area, SIZE_MAX, MS_SYNC)); } },
        { "msync: nothing mapped", ENOMEM, [&] { return error(m_space->msync(hole(), kPageSize, MS_SYNC)); } },
    });
}

TEST_F(BadInput, Mremap)
{
    auto mremap = [&](VirtAddr old, std::size_t old_size, std::size_t new_size, int flags, VirtAddr to = VirtAddr()) {
        return test::error_of(m_space->mremap(old, old_size, new_size, flags, to));
    };
    VirtAddr elsewhere = hole().offset(16 * kPageSize);
    // Something right after the area (or the reservation's end), so that it cannot grow in place.
    if (m_area.offset(4 * kPageSize) < end()) {
        auto blocker = m_space->mmap(m_area.offset(4 * kPageSize), kPageSize, kRw, kAnon | MAP_FIXED);
        ASSERT_TRUE(blocker) << blocker.error().what();
    }
    expect_all({
        { "unknown flags", EINVAL, [&] { return mremap(m_area, kPageSize, kPageSize, 0x100); } },
        { "MREMAP_FIXED without MREMAP_MAYMOVE", EINVAL, [&] { return mremap(m_area, kPageSize, kPageSize, MREMAP_FIXED, elsewhere); } },
        { "MREMAP_DONTUNMAP without MREMAP_MAYMOVE", EINVAL, [&] { return mremap(m_area, kPageSize, kPageSize, MREMAP_DONTUNMAP); } },
        { "MREMAP_DONTUNMAP, other lengths", EINVAL,
            [&] { return mremap(m_area, kPageSize, 2 * kPageSize, MREMAP_MAYMOVE | MREMAP_DONTUNMAP); } },
        { "old address not page-aligned", EINVAL, [&] { return mremap(m_area.offset(1), kPageSize, kPageSize, 0); } },
        { "new length 0", EINVAL, [&] { return mremap(m_area, kPageSize, 0, MREMAP_MAYMOVE); } },
        { "new address not page-aligned", EINVAL,
            [&] { return mremap(m_area, kPageSize, kPageSize, MREMAP_MAYMOVE | MREMAP_FIXED, elsewhere.offset(1)); } },
        { "the ranges overlap", EINVAL,
            [&] { return mremap(m_area, 2 * kPageSize, 2 * kPageSize, MREMAP_MAYMOVE | MREMAP_FIXED, m_area.offset(kPageSize)); } },
        { "new range outside the reservation", EINVAL,
            [&] { return mremap(m_area, kPageSize, kPageSize, MREMAP_MAYMOVE | MREMAP_FIXED, end()); } },
        { "old range not mapped", EFAULT, [&] { return mremap(elsewhere, kPageSize, 2 * kPageSize, MREMAP_MAYMOVE); } },
        { "old range past its mapping", EFAULT, [&] { return mremap(m_area, 8 * kPageSize, 8 * kPageSize, MREMAP_MAYMOVE); } },
        { "cannot grow in place, no MREMAP_MAYMOVE", ENOMEM, [&] { return mremap(m_area, 4 * kPageSize, 8 * kPageSize, 0); } },
    });
}

TEST_F(BadInput, MlockMunlockMincorePin)
{
    auto error = [](const VmResult<void>& result) { return test::error_of(result); };
    std::vector<unsigned char> vec(4);
    std::vector<PageFrame*> pins(4);
    expect_all({
        { "mlock: overflow", EINVAL, [&] { return error(m_space->mlock(m_area, SIZE_MAX)); } },
        { "mlock: nothing mapped", ENOMEM, [&] { return error(m_space->mlock(hole(), kPageSize)); } },
        { "mlock: outside the reservation", ENOMEM, [&] { return error(m_space->mlock(end(), kPageSize)); } },
        { "munlock: overflow", EINVAL, [&] { return error(m_space->munlock(m_area, SIZE_MAX)); } },
        { "munlock: nothing mapped", ENOMEM, [&] { return error(m_space->munlock(hole(), kPageSize)); } },
        { "mincore: not page-aligned", EINVAL, [&] { return error(m_space->mincore(m_area.offset(1), kPageSize, vec.data())); } },
        { "mincore: overflow", ENOMEM, [&] { return error(m_space->mincore(m_area, SIZE_MAX, vec.data())); } },
        { "mincore: nothing mapped", ENOMEM, [&] { return error(m_space->mincore(hole(), kPageSize, vec.data())); } },
        { "mincore: no vector", EFAULT, [&] { return error(m_space->mincore(m_area, kPageSize, nullptr)); } },
        { "pin_user_pages: overflow pins nothing", 0,
            [&] { return static_cast<int>(m_space->pin_user_pages(m_area, SIZE_MAX, true, pins.data())); } },
        { "pin_user_pages: nothing mapped pins nothing", 0,
            [&] { return static_cast<int>(m_space->pin_user_pages(hole(), kPageSize, true, pins.data())); } },
    });
}

TEST_F(BadInput, MincoreIntoEmulatedMemoryThatIsSwappedOut)
{
    // The vector is emulated memory that is not in a frame, while another thread takes the
    // mmap_lock for writing over and over: mincore() fills the vector after it let go of the
    // lock, whose fault takes it again (with a writer waiting, a nested read lock would hang).
    std::vector<unsigned char> heap(4, 7);
    ASSERT_TRUE(m_space->mincore(m_area, 4 * kPageSize, heap.data()));
    EXPECT_EQ(std::memcmp(heap.data(), "\1\1\1\1", 4), 0);
    VirtAddr vec = map_anon(*m_space, kPageSize);
    VirtAddr other = map_anon(*m_space, kPageSize);
    std::atomic<bool> stop { false };
    std::thread writer([&] {
        for (int i = 0; !stop.load(); ++i)
            (void)m_space->mprotect(other, kPageSize, i % 2 ? PROT_READ : kRw);
    });
    for (int round = 0; round < 2000; ++round) {
        vec.ptr<unsigned char>()[0] = 9;
        ASSERT_TRUE(m_space->madvise(vec, kPageSize, MADV_PAGEOUT));
        ASSERT_TRUE(m_space->mincore(m_area, 4 * kPageSize, vec.ptr<unsigned char>()));
        ASSERT_EQ(std::memcmp(vec.ptr<unsigned char>(), "\1\1\1\1", 4), 0) << round;
    }
    stop = true;
    writer.join();
}

TEST_F(BadInput, MadviseFreeOfAFileMappingIsEinvalAsInLinux)
{
    test::TempFile file(kPageSize);
    auto mapped = m_space->mmap(VirtAddr(), kPageSize, PROT_READ, MAP_PRIVATE, file.fd());
    ASSERT_TRUE(mapped);
    EXPECT_EQ(test::error_of(m_space->madvise(*mapped, kPageSize, MADV_FREE)), EINVAL);
    void* real = ::mmap(nullptr, kPageSize, PROT_READ, MAP_PRIVATE, file.fd(), 0);
    ASSERT_NE(real, MAP_FAILED);
    EXPECT_EQ(::madvise(real, kPageSize, MADV_FREE), -1);
    EXPECT_EQ(errno, EINVAL);
    ::munmap(real, kPageSize);
}

TEST_F(BadInput, MapLockedAndGrowingALockedMappingRespectRlimitMemlock)
{
    // As Linux's do_mmap() and vma_to_resize(): EPERM with no right to lock, EAGAIN over the limit.
    VirtAddr free_place = hole().offset(64 * kPageSize);
    EXPECT_EQ(test::without_ipc_lock(0, [&] {
        return test::error_of(m_space->mmap(VirtAddr(), kPageSize, kRw, kAnon | MAP_LOCKED)) == EPERM ? 0 : 1;
    }), 0);
    EXPECT_EQ(test::without_ipc_lock(kPageSize, [&] {
        return test::error_of(m_space->mmap(free_place, 2 * kPageSize, kRw, kAnon | MAP_LOCKED | MAP_FIXED)) == EAGAIN ? 0 : 1;
    }), 0);
    // The parent locks 1 page; the child, allowed 1 page, may not grow it to 2.
    auto locked = m_space->mmap(free_place, kPageSize, kRw, kAnon | MAP_LOCKED | MAP_FIXED);
    ASSERT_TRUE(locked) << locked.error().what();
    EXPECT_EQ(test::without_ipc_lock(kPageSize, [&] {
        return test::error_of(m_space->mremap(free_place, kPageSize, 2 * kPageSize, MREMAP_MAYMOVE)) == EAGAIN ? 0 : 1;
    }), 0);
    // And the real kernel agrees, in a child of its own.
    EXPECT_EQ(test::without_ipc_lock(kPageSize, [] {
        void* two = ::mmap(nullptr, 2 * kPageSize, kRw, kAnon | MAP_LOCKED, -1, 0);
        if (two != MAP_FAILED || errno != EAGAIN)
            return 1;
        void* one = ::mmap(nullptr, kPageSize, kRw, kAnon | MAP_LOCKED, -1, 0);
        if (one == MAP_FAILED)
            return 2;
        return ::mremap(one, kPageSize, 2 * kPageSize, MREMAP_MAYMOVE) == MAP_FAILED && errno == EAGAIN ? 0 : 3;
    }), 0);
}

TEST(BadInputMachine, CreateAndItsServices)
{
    auto machine_error = [](MachineConfig config) { return test::error_of(Machine::create(config)); };
    EXPECT_EQ(machine_error({ .frames = 0 }), EINVAL);
    EXPECT_EQ(machine_error({ .frames = 255 }), EINVAL);
    EXPECT_EQ(machine_error({ .frames = std::size_t { 1 } << 60 }), EINVAL);
    EXPECT_EQ(machine_error({ .frames = std::size_t { 1 } << 40 }), ENOMEM) << "4 PiB of frames on this machine";
    EXPECT_EQ(machine_error({ .frames = 1024, .max_vmas = 0 }), EINVAL);
    auto with_swap = [&](SwapDeviceConfig swap) {
        MachineConfig config { .frames = 1024, .kswapd = false };
        config.swap = swap;
        return machine_error(config);
    };
    EXPECT_EQ(with_swap({ .bytes = 4096 }), EINVAL) << "no room for a slot";
    EXPECT_EQ(with_swap({ .bytes = 5000 }), EINVAL) << "not a page multiple";
    EXPECT_EQ(with_swap({ .bytes = test::kMiB, .label = "a label of twenty bytes" }), EINVAL);
    EXPECT_EQ(with_swap({ .path = "/nonexistent-vmemu/swap", .bytes = test::kMiB }), ENOENT);
    EXPECT_EQ(with_swap({ .bytes = test::kMiB, .queue_depth = 0 }), EINVAL);
    {
        // A file with data that is not a swap area is refused and left as it was.
        test::TempFile data(2 * kPageSize);
        auto before = data.contents();
        EXPECT_EQ(with_swap({ .path = data.path(), .bytes = test::kMiB }), EEXIST);
        EXPECT_EQ(data.contents(), before);
    }

    auto machine = test::make_machine(1024);
    auto space_error = [&](std::size_t bytes) { return test::error_of(machine->create_address_space(bytes)); };
    EXPECT_EQ(space_error(0), EINVAL);
    EXPECT_EQ(space_error(test::kMiB), EINVAL);
    EXPECT_EQ(space_error(4 * test::kMiB + 1), EINVAL);
    EXPECT_EQ(space_error(std::size_t { 1 } << 47), EINVAL) << "above 64 TiB";
    using std::chrono::milliseconds;
    EXPECT_EQ(test::error_of(machine->start_trace_sampling(milliseconds(0))), EINVAL);
    EXPECT_EQ(test::error_of(machine->start_trace_sampling(milliseconds(120'000))), EINVAL);
    EXPECT_EQ(test::error_of(machine->publish_stats(milliseconds(0))), EINVAL);
    EXPECT_EQ(test::error_of(machine->publish_stats(std::chrono::hours(2))), EINVAL);
    EXPECT_EQ(test::error_of(machine->publish_stats(milliseconds(std::int64_t { 1 } << 32))), EINVAL)
        << "an interval that would wrap the timer to 0";
    EXPECT_EQ(test::error_of(machine->truncate(-1, 0)), EBADF);
    test::TempFile file(kPageSize);
    EXPECT_EQ(test::error_of(machine->truncate(file.fd(), -1)), EINVAL);
}

TEST(BadInputMachine, ParseSizeAndTraceSettings)
{
    for (const char* bad : { "", "abc", "-1", "+1", " 1", "12Q", "1K5", "1Ki", "1KiBB", "1kb", "1B", "0x10",
             "99999999999999999999", "17179869184G", "18446744073709551615GB" })
        EXPECT_FALSE(parse_size(bad).has_value()) << "'" << bad << "'";
    EXPECT_FALSE(parse_size(nullptr).has_value());
    EXPECT_EQ(parse_size("4K"), 4096u);
    EXPECT_EQ(parse_size("1m"), test::kMiB);
    EXPECT_EQ(parse_size("16MiB"), 16 * test::kMiB);
    EXPECT_EQ(parse_size("2GiB"), std::size_t { 2 } << 30);
    EXPECT_EQ(parse_size("4KB"), 4000u);
    EXPECT_EQ(parse_size("16MB"), 16'000'000u);
    EXPECT_EQ(parse_size("1GB"), 1'000'000'000u);
    EXPECT_EQ(test::error_of(trace::start(0)), EINVAL);
    EXPECT_EQ(test::error_of(trace::start(16, 0)), EINVAL);
    for (const char* bad : { "bogus", "kmem:", ":", "kmem,", ",kmem", "kmem,,vmscan", "kmem:nothing" })
        EXPECT_EQ(test::error_of(trace::set_event_filter(bad)), EINVAL) << "'" << bad << "'";
    EXPECT_EQ(test::error_of(trace::set_event_filter(nullptr)), EINVAL);
    EXPECT_TRUE(trace::set_event_filter("kmem,vmscan"));
    EXPECT_TRUE(trace::set_event_filter("all"));
}

TEST(BadInputMachine, AnUnknownBackendInTheEnvironmentIsEinval)
{
    const char* saved = std::getenv("VMEMU_BACKEND");
    std::string previous = saved ? saved : "";
    setenv("VMEMU_BACKEND", "sigsegv", 1);
    EXPECT_EQ(test::error_of(Machine::create({ .frames = 1024, .kswapd = false })), EINVAL);
    // A kind named in the configuration does not look at the environment.
    EXPECT_TRUE(Machine::create({ .frames = 1024, .kswapd = false, .fault_source = FaultSourceKind::Signal }));
    if (saved)
        setenv("VMEMU_BACKEND", previous.c_str(), 1);
    else
        unsetenv("VMEMU_BACKEND");
}

} // namespace
} // namespace vmemu
