// The userfaultfd fault source, with both deliveries: the same faults and reclaim as under the
// SIGSEGV source, resolved in the faulting thread (SIGBUS) or by a handler thread, which makes
// the kernel's own accesses to pages that are not mapped wait for vmemu instead of failing with
// EFAULT.
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "file_support.hpp"
#include "test_support.hpp"

namespace vmemu {
namespace {

using test::map_anon;

std::unique_ptr<Machine> make_userfault_machine(FaultSourceKind kind, std::size_t frames, std::size_t swap_bytes)
{
    MachineConfig config { .frames = frames, .fault_source = kind };
    if (swap_bytes)
        config.swap = SwapDeviceConfig { .bytes = swap_bytes };
    auto machine = Machine::create(config);
    if (!machine)
        return nullptr;
    return std::move(*machine);
}

#define REQUIRE_USERFAULT(machine)                                                                 \
    if (!(machine))                                                                                \
        GTEST_SKIP() << "userfaultfd with UFFDIO_MOVE is not available here";

class Userfault : public ::testing::TestWithParam<FaultSourceKind> { };
using UserfaultDeathTest = Userfault;

std::string kind_name(const ::testing::TestParamInfo<FaultSourceKind>& info)
{
    return info.param == FaultSourceKind::Userfault ? "Sigbus" : "Thread";
}

std::uint64_t word_of(std::size_t page, std::uint64_t generation) { return page * 2654435761u + generation; }

TEST_P(Userfault, FirstTouchReadsZeroAndKeepsWhatIsWritten)
{
    auto machine = make_userfault_machine(GetParam(), 1024, 0);
    REQUIRE_USERFAULT(machine);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, 256 * kPageSize);
    for (std::size_t page = 0; page < 256; page += 2)
        EXPECT_EQ(area.offset(page * kPageSize).ptr<volatile std::uint64_t>()[7], 0u);
    for (std::size_t page = 0; page < 256; ++page)
        area.offset(page * kPageSize).ptr<std::uint64_t>()[3] = word_of(page, 1);
    for (std::size_t page = 0; page < 256; ++page)
        ASSERT_EQ(area.offset(page * kPageSize).ptr<std::uint64_t>()[3], word_of(page, 1)) << page;
    EXPECT_GE(machine->stat().value(VmStatItem::PgFault), 128);
    space->verify_invariants();
}

TEST_P(Userfault, ReadsOfUntouchedMemoryMapTheZeroPageAndCostNoFrame)
{
    auto machine = make_userfault_machine(GetParam(), 1024, 0);
    REQUIRE_USERFAULT(machine);
    auto space = test::make_space(*machine);
    constexpr std::size_t kPages = 512;
    VirtAddr area = map_anon(*space, kPages * kPageSize);
    std::size_t free_before = machine->free_frames();
    EXPECT_EQ(area.ptr<volatile std::uint64_t>()[7], 0u);
    if (test::stat_of(*machine, VmStatItem::PgFaultZeroPage) == 0)
        GTEST_SKIP() << "this kernel's userfaultfd has no write protection: reads take frames";
    for (std::size_t page = 1; page < kPages; ++page)
        ASSERT_EQ(area.offset(page * kPageSize).ptr<volatile std::uint64_t>()[7], 0u) << page;
    EXPECT_EQ(test::stat_of(*machine, VmStatItem::PgFaultZeroPage), static_cast<std::int64_t>(kPages));
    EXPECT_EQ(space->rss_pages(), 0u);
    // Frames for the page tables and the one held back for a written zero page, not one a page.
    EXPECT_LT(free_before - machine->free_frames(), 8u);
    // The first write of each gives it a frame of its own; the zero page stays zeros.
    for (std::size_t page = 0; page < kPages; ++page)
        area.offset(page * kPageSize).ptr<std::uint64_t>()[3] = word_of(page, 1);
    for (std::size_t page = 0; page < kPages; ++page) {
        ASSERT_EQ(area.offset(page * kPageSize).ptr<std::uint64_t>()[3], word_of(page, 1)) << page;
        ASSERT_EQ(area.offset(page * kPageSize).ptr<std::uint64_t>()[7], 0u) << page;
    }
    EXPECT_EQ(space->rss_pages(), kPages);
    EXPECT_EQ(test::stat_of(*machine, VmStatItem::NrZeroPageMappings), 0);
    // mprotect takes them out and they come back, zero pages included.
    VirtAddr zeros = map_anon(*space, 16 * kPageSize);
    EXPECT_EQ(zeros.ptr<volatile std::uint64_t>()[1], 0u);
    ASSERT_TRUE(space->mprotect(zeros, 16 * kPageSize, PROT_READ));
    EXPECT_EQ(zeros.ptr<volatile std::uint64_t>()[1], 0u);
    ASSERT_TRUE(space->mprotect(zeros, 16 * kPageSize, PROT_READ | PROT_WRITE));
    zeros.ptr<std::uint64_t>()[1] = 5;
    EXPECT_EQ(zeros.ptr<volatile std::uint64_t>()[1], 5u);
    space->verify_invariants();
    machine->verify_invariants();
}

TEST_P(Userfault, AZeroPageWrittenAsItIsMappedKeepsTheWrite)
{
    // Another thread's write between UFFDIO_ZEROPAGE and the write protection is copied on
    // write inside the kernel, unseen; the injected write stands for it.
    auto machine = make_userfault_machine(GetParam(), 1024, 16 * test::kMiB);
    REQUIRE_USERFAULT(machine);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, 4 * kPageSize);
    EXPECT_EQ(area.offset(kPageSize).ptr<volatile std::uint8_t>()[100], 0u);
    if (test::stat_of(*machine, VmStatItem::PgFaultZeroPage) == 0)
        GTEST_SKIP() << "this kernel's userfaultfd has no write protection: reads take frames";
    os::inject_zero_page_writes(1);
    EXPECT_EQ(area.ptr<volatile std::uint8_t>()[100], 0x5a);
    os::inject_zero_page_writes(0);
    EXPECT_EQ(test::stat_of(*machine, VmStatItem::PgFaultZeroPageRaced), 1);
    EXPECT_EQ(space->rss_pages(), 1u); // a page of its own, and the zero page beside it
    area.ptr<std::uint8_t>()[200] = 7; // lifts the write protection
    ASSERT_TRUE(space->madvise(area, 4 * kPageSize, MADV_PAGEOUT));
    machine->wait_for_swap_io();
    EXPECT_EQ(area.ptr<volatile std::uint8_t>()[100], 0x5a);
    EXPECT_EQ(area.ptr<volatile std::uint8_t>()[200], 7);
    EXPECT_EQ(area.offset(kPageSize).ptr<volatile std::uint8_t>()[100], 0u);
    space->verify_invariants();
    machine->verify_invariants();
}

TEST_P(Userfault, ThrashingKeepsEveryByte)
{
    constexpr std::size_t kPages = 4096; // 16 MiB on 4 MiB of frames
    auto machine = make_userfault_machine(GetParam(), 1024, 64 * test::kMiB);
    REQUIRE_USERFAULT(machine);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, kPages * kPageSize);
    for (std::uint64_t generation = 1; generation <= 3; ++generation) {
        for (std::size_t page = 0; page < kPages; ++page) {
            auto* words = area.offset(page * kPageSize).ptr<std::uint64_t>();
            if (generation > 1) {
                ASSERT_EQ(words[0], word_of(page, generation - 1)) << page;
            }
            words[0] = words[511] = word_of(page, generation);
        }
    }
    for (std::size_t page = kPages; page-- > 0;)
        ASSERT_EQ(area.offset(page * kPageSize).ptr<std::uint64_t>()[511], word_of(page, 3)) << page;
    machine->wait_for_swap_io();
    EXPECT_GT(machine->stat().value(VmStatItem::PswpOut), 0);
    EXPECT_GT(machine->stat().value(VmStatItem::PswpIn), 0);
    machine->verify_invariants();
    space->verify_invariants();
}

TEST_P(Userfault, PagesTakenOutMoveToTheirFramesInAnonymousMemoryAndBack)
{
    // With write protection the frames of private pages may keep their bytes in the anonymous
    // direct map: a writable page taken out moves into its frame's slot there (no copy), and
    // a write fault moves it back, leaving the slot empty.
    constexpr std::size_t kPages = 8;
    auto machine = make_userfault_machine(GetParam(), 1024, 0);
    REQUIRE_USERFAULT(machine);
    const FrameArena& arena = machine->arena();
    if (!arena.has_anon_map())
        GTEST_SKIP() << "no userfaultfd write protection here, so no anonymous direct map";
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, kPages * kPageSize);
    for (std::size_t page = 0; page < kPages; ++page)
        area.offset(page * kPageSize).ptr<std::uint64_t>()[7] = word_of(page, 1);
    auto slot_of = [&](VirtAddr address) {
        std::string walk = space->page_walk(address);
        std::size_t at = walk.find("direct map: ");
        EXPECT_NE(at, std::string::npos) << walk;
        return reinterpret_cast<std::byte*>(std::strtoull(walk.c_str() + at + 12, nullptr, 16));
    };
    auto in_anon_map = [&](const std::byte* address) {
        return address >= arena.anon_map() && address < arena.anon_map() + arena.anon_map_bytes();
    };
    // mprotect() takes the pages out of the hardware view.
    ASSERT_TRUE(space->mprotect(area, kPages * kPageSize, PROT_READ));
    ASSERT_TRUE(space->mprotect(area, kPages * kPageSize, PROT_READ | PROT_WRITE));
    std::vector<std::byte*> slots;
    for (std::size_t page = 0; page < kPages; ++page) {
        VirtAddr address = area.offset(page * kPageSize);
        EXPECT_NE(space->page_walk(address).find("anon_home"), std::string::npos) << space->page_walk(address);
        std::byte* slot = slot_of(address);
        ASSERT_TRUE(in_anon_map(slot));
        EXPECT_EQ(reinterpret_cast<std::uint64_t*>(slot)[7], word_of(page, 1));
        slots.push_back(slot);
    }
    // A write moves each page back in; its slot is empty again, and its frame back in the memfd.
    for (std::size_t page = 0; page < kPages; ++page) {
        auto* words = area.offset(page * kPageSize).ptr<std::uint64_t>();
        words[8] = word_of(page, 2); // a write fault: mapped writable, so moved
        EXPECT_EQ(words[7], word_of(page, 1));
        unsigned char resident = 1;
        ASSERT_EQ(::mincore(slots[page], kPageSize, &resident), 0);
        EXPECT_EQ(resident & 1, 0) << page;
        EXPECT_FALSE(in_anon_map(slot_of(area.offset(page * kPageSize))));
    }
    space->verify_invariants();
    machine->verify_invariants();
}

TEST_P(Userfault, KernelAccessesWaitForMissingPages)
{
    auto machine = make_userfault_machine(GetParam(), 512, 32 * test::kMiB);
    REQUIRE_USERFAULT(machine);
    if (GetParam() == FaultSourceKind::Userfault)
        GTEST_SKIP() << "in SIGBUS mode the kernel's own accesses fail with EFAULT, as for the SIGSEGV source";
    if (machine->userfault()->user_mode_only())
        GTEST_SKIP() << "only UFFD_USER_MODE_ONLY here (run as root): the kernel's accesses fail with EFAULT";
    auto space = test::make_space(*machine);
    int fd = open("/proc/self/exe", O_RDONLY);
    ASSERT_GE(fd, 0);
    // A never-touched page, then pages swapped out by filling 8 MiB on 2 MiB of frames.
    VirtAddr fresh = map_anon(*space, kPageSize);
    ASSERT_EQ(pread(fd, fresh.ptr<char>(), 64, 0), 64);
    EXPECT_EQ(std::memcmp(fresh.ptr<char>() + 1, "ELF", 3), 0);
    VirtAddr area = map_anon(*space, 2048 * kPageSize);
    for (std::size_t page = 0; page < 2048; ++page)
        area.offset(page * kPageSize).ptr<char>()[100] = 1;
    machine->wait_for_swap_io();
    for (std::size_t page = 0; page < 2048; page += 97) {
        ASSERT_EQ(pread(fd, area.offset(page * kPageSize).ptr<char>(), 16, 0), 16) << page << ": " << errno;
        EXPECT_EQ(area.offset(page * kPageSize).ptr<char>()[100], 1);
        EXPECT_EQ(std::memcmp(area.offset(page * kPageSize).ptr<char>() + 1, "ELF", 3), 0);
    }
    EXPECT_EQ(write(fd, area.ptr<char>(), 0), -1); // read-only descriptor: EBADF, not EFAULT
    close(fd);
}

TEST_P(Userfault, ProtectionFaultsAndWildAccessesAreStillSigsegv)
{
    auto machine = make_userfault_machine(GetParam(), 512, 0);
    REQUIRE_USERFAULT(machine);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, 4 * kPageSize);
    area.ptr<char>()[0] = 'a';
    ASSERT_TRUE(space->mprotect(area, 4 * kPageSize, PROT_READ));
    EXPECT_EQ(area.ptr<char>()[0], 'a');
    EXPECT_EQ(area.ptr<char>()[kPageSize], 0);
    EXPECT_EXIT({ area.ptr<volatile char>()[0] = 'b'; }, ::testing::KilledBySignal(SIGSEGV), "");
    ASSERT_TRUE(space->mprotect(area, 4 * kPageSize, PROT_READ | PROT_WRITE));
    area.ptr<char>()[kPageSize] = 'c';
    EXPECT_EQ(area.ptr<char>()[0], 'a');
    ASSERT_TRUE(space->munmap(area, 4 * kPageSize));
    EXPECT_EXIT({ (void)area.ptr<volatile char>()[0]; }, ::testing::KilledBySignal(SIGSEGV), "");
    space->verify_invariants();
}

TEST_P(UserfaultDeathTest, RefusedCopySaysWhyAndIsSigbusAndHostOutOfMemoryIsAnOomKill)
{
    // UFFDIO_COPY's ENOMEM is the host out of memory: vmemu's OOM kill. Any other error is
    // said with its errno, and the faulting thread gets SIGBUS.
    REQUIRE_USERFAULT(make_userfault_machine(GetParam(), 256, 0));
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    auto copy_fails = [kind = GetParam()](int error) {
        auto machine = make_userfault_machine(kind, 256, 0);
        auto space = test::make_space(*machine);
        VirtAddr area = map_anon(*space, 16 * kPageSize);
        area.ptr<volatile char>()[0] = 1;
        os::inject_map_errors(error, 1);
        area.ptr<volatile char>()[kPageSize] = 1;
    };
    EXPECT_EXIT(copy_fails(EEXIST), ::testing::KilledBySignal(SIGBUS),
        "UFFDIO_COPY of a frame at 0x[0-9a-f]+ failed: EEXIST\n.*cannot resolve a fault at 0x[0-9a-f]+: the kernel "
        "refused to map the page");
    EXPECT_EXIT(copy_fails(ENOMEM), ::testing::KilledBySignal(SIGKILL), "Out of memory: Killed process");
}

TEST_P(Userfault, ForkGivesTheChildACopyOfMappedAndSwappedPages)
{
    if (test::kThreadSanitizer)
        GTEST_SKIP() << "ThreadSanitizer cannot follow a fork() child that starts threads";
    constexpr std::size_t kPages = 2048;
    auto machine = make_userfault_machine(GetParam(), 512, 32 * test::kMiB);
    REQUIRE_USERFAULT(machine);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, kPages * kPageSize);
    for (std::size_t page = 0; page < kPages; ++page)
        area.offset(page * kPageSize).ptr<std::uint64_t>()[1] = word_of(page, 1);
    machine->prepare_fork();
    pid_t child = fork();
    if (child == 0) {
        if (!machine->fork_child())
            _exit(100);
        for (std::size_t page = 0; page < kPages; ++page) {
            auto* words = area.offset(page * kPageSize).ptr<std::uint64_t>();
            if (words[1] != word_of(page, 1))
                _exit(1);
            words[1] = word_of(page, 2);
        }
        for (std::size_t page = 0; page < kPages; ++page) {
            if (area.offset(page * kPageSize).ptr<std::uint64_t>()[1] != word_of(page, 2))
                _exit(2);
        }
        _exit(0);
    }
    machine->fork_parent();
    ASSERT_GT(child, 0);
    for (std::size_t page = 0; page < kPages; page += 3)
        area.offset(page * kPageSize).ptr<std::uint64_t>()[1] = word_of(page, 3);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    for (std::size_t page = 0; page < kPages; ++page)
        ASSERT_EQ(area.offset(page * kPageSize).ptr<std::uint64_t>()[1], word_of(page, page % 3 ? 1 : 3)) << page;
    machine->verify_invariants();
}

TEST_P(Userfault, ThreadsFaultTheSamePagesAtOnce)
{
    // Every thread touches every page at the same moment, each writing its own word: each
    // fault is resolved once, and the others find the page mapped (or wait for it).
    constexpr unsigned kThreads = 4;
    constexpr std::size_t kPages = 512;
    auto machine = make_userfault_machine(GetParam(), 2048, 0);
    REQUIRE_USERFAULT(machine);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, kPages * kPageSize);
    test::SpinBarrier barrier(kThreads);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (std::size_t page = 0; page < kPages; ++page) {
                barrier.arrive_and_wait();
                area.offset(page * kPageSize).ptr<std::uint64_t>()[t] = word_of(page, t);
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    for (std::size_t page = 0; page < kPages; ++page) {
        for (unsigned t = 0; t < kThreads; ++t)
            ASSERT_EQ(area.offset(page * kPageSize).ptr<std::uint64_t>()[t], word_of(page, t)) << page;
    }
    EXPECT_EQ(space->rss_pages(), kPages);
    space->verify_invariants();
    machine->verify_invariants();
}

// The kernel's mappings (VMAs) inside the reservation, from /proc/self/maps.
std::size_t kernel_vmas_in(const AddressSpace& space)
{
    std::FILE* maps = std::fopen("/proc/self/maps", "r");
    std::size_t count = 0;
    unsigned long start = 0;
    unsigned long end = 0;
    char line[512];
    while (maps && std::fgets(line, sizeof line, maps)) {
        if (std::sscanf(line, "%lx-%lx", &start, &end) == 2 && start >= space.reservation_start().get()
            && end <= space.reservation_end().get())
            ++count;
    }
    if (maps)
        std::fclose(maps);
    return count;
}

TEST_P(Userfault, KernelMappingsFollowTheVmasNotTheFrames)
{
    // 8192 pages touched in random order in two VMAs of different protection: the kernel holds
    // the reservation in a handful of VMAs, as many as the emulated VMAs and the gaps between.
    constexpr std::size_t kPages = 8192;
    auto machine = make_userfault_machine(GetParam(), 2 * kPages, 0);
    REQUIRE_USERFAULT(machine);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, kPages * kPageSize);
    auto other = space->mmap(VirtAddr(), 16 * kPageSize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
    ASSERT_TRUE(other);
    std::vector<std::size_t> order(kPages);
    for (std::size_t page = 0; page < kPages; ++page)
        order[page] = page;
    std::shuffle(order.begin(), order.end(), std::mt19937(7));
    for (std::size_t page : order)
        area.offset(page * kPageSize).ptr<std::uint64_t>()[0] = word_of(page, 1);
    for (std::size_t page = 0; page < 16; ++page)
        EXPECT_EQ(other->offset(page * kPageSize).ptr<volatile std::uint64_t>()[0], 0u);
    EXPECT_LE(kernel_vmas_in(*space), 2 * space->vma_count() + 1);
    for (std::size_t page = 0; page < kPages; ++page)
        ASSERT_EQ(area.offset(page * kPageSize).ptr<std::uint64_t>()[0], word_of(page, 1)) << page;
}

TEST_P(Userfault, TheProgramsSigbusHandlerGetsItsOwnSignalsAndTheFaultsVmemuCannotServe)
{
    // In SIGBUS mode vmemu's handler owns SIGBUS: the program's handler, installed after it,
    // still gets a SIGBUS sent to it and one for a fault vmemu could not serve, with the
    // address, while missing pages go on being vmemu's.
    if (GetParam() != FaultSourceKind::Userfault)
        GTEST_SKIP() << "the handler thread sends vmemu's SIGBUS with tgkill(), without an address";
    auto machine = make_userfault_machine(GetParam(), 256, 0);
    REQUIRE_USERFAULT(machine);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, 16 * kPageSize);
    {
        test::ScopedSignalHandler handler(SIGBUS, test::on_sigbus);
        test::g_bus_code = 0;
        if (sigsetjmp(test::g_bus_recover, 1) == 0) {
            raise(SIGBUS);
            ADD_FAILURE() << "the program's handler did not run";
        }
        EXPECT_EQ(test::g_bus_code, SI_TKILL);
        area.ptr<volatile char>()[0] = 1;
        os::inject_map_errors(EEXIST, 1);
        EXPECT_TRUE(test::sigbus_at(area.offset(kPageSize).ptr<volatile std::uint8_t>(), true));
        EXPECT_EQ(test::g_bus_code, BUS_ADRERR);
        EXPECT_EQ(test::g_bus_address, area.offset(kPageSize).ptr());
        struct sigaction current {};
        ASSERT_EQ(sigaction(SIGBUS, nullptr, &current), 0);
        EXPECT_EQ(current.sa_sigaction, test::on_sigbus);
    }
    // The page vmemu could not map is mapped at the next touch.
    area.ptr<volatile char>()[kPageSize] = 2;
    EXPECT_EQ(area.ptr<char>()[kPageSize], 2);
    EXPECT_EQ(area.ptr<char>()[0], 1);
    space->verify_invariants();
}

TEST_P(Userfault, AddressSpaceForkSharesPagesCopyOnWriteThroughFrames)
{
    // The parent's anonymous VMAs take their pages back to their frames and map frames from
    // then on; both sides see the pages of the fork and then only their own writes.
    constexpr std::size_t kPages = 64;
    auto machine = make_userfault_machine(GetParam(), 1024, 0);
    REQUIRE_USERFAULT(machine);
    auto parent = test::make_space(*machine);
    VirtAddr area = map_anon(*parent, kPages * kPageSize);
    for (std::size_t page = 0; page < kPages; ++page)
        area.offset(page * kPageSize).ptr<std::uint64_t>()[0] = word_of(page, 1);
    auto child = parent->fork();
    ASSERT_TRUE(child) << child.error().what();
    VirtAddr in_child = (*child)->reservation_start().offset(area - parent->reservation_start());
    for (std::size_t page = 0; page < kPages; page += 2)
        area.offset(page * kPageSize).ptr<std::uint64_t>()[0] = word_of(page, 2);
    for (std::size_t page = 0; page < kPages; ++page) {
        ASSERT_EQ(in_child.offset(page * kPageSize).ptr<std::uint64_t>()[0], word_of(page, 1)) << page;
        ASSERT_EQ(area.offset(page * kPageSize).ptr<std::uint64_t>()[0], word_of(page, page % 2 ? 1 : 2)) << page;
    }
    in_child.ptr<std::uint64_t>()[1] = 7;
    EXPECT_EQ(area.ptr<std::uint64_t>()[1], 0u);
    // A VMA made after the fork goes through userfaultfd again.
    VirtAddr fresh = map_anon(*parent, 4 * kPageSize);
    fresh.ptr<std::uint64_t>()[0] = 9;
    EXPECT_EQ(fresh.ptr<std::uint64_t>()[0], 9u);
    parent->verify_invariants();
    (*child)->verify_invariants();
}

TEST_P(Userfault, FileMappingsMapFramesBesideUserfaultVmas)
{
    auto machine = make_userfault_machine(GetParam(), 1024, 0);
    REQUIRE_USERFAULT(machine);
    auto space = test::make_space(*machine);
    test::TempFile file(8 * kPageSize);
    VirtAddr anon = map_anon(*space, 8 * kPageSize);
    VirtAddr shared = test::map_file(*space, file.fd(), 8 * kPageSize, MAP_SHARED);
    VirtAddr priv = test::map_file(*space, file.fd(), 8 * kPageSize, MAP_PRIVATE);
    for (std::size_t offset = 0; offset < 8 * kPageSize; offset += 1000) {
        ASSERT_EQ(shared.ptr<std::uint8_t>()[offset], test::pattern(offset)) << offset;
        ASSERT_EQ(priv.ptr<std::uint8_t>()[offset], test::pattern(offset)) << offset;
    }
    for (std::size_t page = 0; page < 8; ++page) {
        anon.offset(page * kPageSize).ptr<std::uint8_t>()[5] = 0xa0;
        shared.offset(page * kPageSize).ptr<std::uint8_t>()[5] = 0xb0;
        priv.offset(page * kPageSize).ptr<std::uint8_t>()[6] = 0xc0;
    }
    ASSERT_TRUE(space->msync(shared, 8 * kPageSize, MS_SYNC));
    std::vector<std::uint8_t> contents = file.contents();
    for (std::size_t page = 0; page < 8; ++page) {
        EXPECT_EQ(contents[page * kPageSize + 5], 0xb0) << page;
        EXPECT_EQ(contents[page * kPageSize + 6], test::pattern(page * kPageSize + 6)) << page;
        EXPECT_EQ(priv.offset(page * kPageSize).ptr<std::uint8_t>()[5], 0xb0) << page; // not yet copied there
        EXPECT_EQ(anon.offset(page * kPageSize).ptr<std::uint8_t>()[5], 0xa0) << page;
    }
    ASSERT_TRUE(space->munmap(shared, 8 * kPageSize));
    ASSERT_TRUE(space->munmap(priv, 8 * kPageSize));
    EXPECT_EQ(anon.ptr<std::uint8_t>()[5], 0xa0);
    space->verify_invariants();
}

INSTANTIATE_TEST_SUITE_P(Delivery, Userfault,
    ::testing::Values(FaultSourceKind::Userfault, FaultSourceKind::UserfaultThread), kind_name);
INSTANTIATE_TEST_SUITE_P(Delivery, UserfaultDeathTest,
    ::testing::Values(FaultSourceKind::Userfault, FaultSourceKind::UserfaultThread), kind_name);

} // namespace
} // namespace vmemu
