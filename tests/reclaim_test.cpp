#include <algorithm>
#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <sys/resource.h>
#include <thread>
#include <vector>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vmemu/os/memory.hpp>
#include <vmemu/reclaim/kswapd.hpp>
#include "smaps_text.hpp"
#include "test_support.hpp"

namespace vmemu {
namespace {

using test::map_anon;

std::unique_ptr<Machine> make_swapping_machine(std::size_t frames, std::size_t swap_bytes, bool kswapd = true,
    OomPolicy policy = OomPolicy::Kill, FaultSourceKind source = FaultSourceKind::Auto)
{
    MachineConfig config { .frames = frames, .oom_policy = policy, .kswapd = kswapd, .fault_source = source };
    config.swap = SwapDeviceConfig { .bytes = swap_bytes };
    auto machine = Machine::create(config);
    EXPECT_TRUE(machine) << (machine ? "" : machine.error().what());
    return std::move(*machine);
}

// Each page carries its number and a generation at three places, so that a page that comes
// back wrong, from the wrong slot or half written, is caught.
std::uint32_t signature(std::size_t page, std::size_t word, std::uint32_t generation)
{
    return static_cast<std::uint32_t>((page * 2654435761u) ^ (word * 40503u) ^ (generation * 97u));
}
constexpr std::size_t kWords[] = { 0, 517, 1023 };

void write_page(std::uint32_t* words, std::size_t page, std::uint32_t generation)
{
    for (std::size_t word : kWords)
        words[page * 1024 + word] = signature(page, word, generation);
}

bool page_is(const std::uint32_t* words, std::size_t page, std::uint32_t generation)
{
    for (std::size_t word : kWords) {
        if (words[page * 1024 + word] != signature(page, word, generation))
            return false;
    }
    return true;
}

void thrash_and_verify(Machine& machine, AddressSpace& space, std::size_t pages, int rounds)
{
    VirtAddr area = map_anon(space, pages * kPageSize);
    auto* words = area.ptr<std::uint32_t>();
    std::vector<std::uint32_t> generation(pages, 1);
    for (std::size_t page = 0; page < pages; ++page)
        write_page(words, page, 1);
    std::mt19937 random(11);
    for (int step = 0; step < rounds; ++step) {
        std::size_t page = random() % pages;
        ASSERT_TRUE(page_is(words, page, generation[page])) << "page " << page << " step " << step;
        if (random() % 2)
            write_page(words, page, ++generation[page]);
    }
    for (std::size_t page = 0; page < pages; ++page)
        ASSERT_TRUE(page_is(words, page, generation[page])) << "page " << page;
    space.verify_invariants();
    machine.verify_invariants();
    EXPECT_GT(machine.stat().value(VmStatItem::PswpOut), 0);
    EXPECT_GT(machine.stat().value(VmStatItem::PswpIn), 0);
    EXPECT_GT(machine.stat().value(VmStatItem::PgMajFault), 0);
    EXPECT_EQ(machine.stat().value(VmStatItem::SwapWriteError), 0);
    // Everything goes back when the mapping goes (with kswapd between batches, so that it does
    // not hold a page of the range isolated at the moment of the check).
    std::optional<ScopedReclaimPause> pause;
    if (machine.kswapd())
        pause.emplace(*machine.kswapd());
    ASSERT_TRUE(space.munmap(area, pages * kPageSize));
    machine.wait_for_swap_io();
    EXPECT_EQ(machine.swap()->device().slots().nr_free(), machine.swap()->device().slots().total_slots());
    EXPECT_EQ(machine.swap()->cache().pages(), 0u);
    EXPECT_EQ(machine.stat().value(VmStatItem::NrAnonPages), 0);
    machine.verify_invariants();
}

TEST(Reclaim, AWorkingSetFourTimesTheFramesReadsBackIntactWithDirectReclaim)
{
    auto machine = make_swapping_machine(512, 16 * test::kMiB, false);
    auto space = test::make_space(*machine);
    thrash_and_verify(*machine, *space, 2048, 20000);
    EXPECT_GT(machine->stat().value(VmStatItem::PgStealDirect), 0);
    EXPECT_EQ(machine->stat().value(VmStatItem::PgScanKswapd), 0);
}

TEST(Reclaim, AWorkingSetFourTimesTheFramesReadsBackIntactWithKswapd)
{
    auto machine = make_swapping_machine(512, 16 * test::kMiB, true);
    auto space = test::make_space(*machine);
    thrash_and_verify(*machine, *space, 2048, 20000);
    EXPECT_GT(machine->stat().value(VmStatItem::PgStealKswapd), 0);
    EXPECT_GT(machine->kswapd()->runs(), 0u);
}

TEST(Reclaim, ThreadsThrashingAtOnceKeepTheirData)
{
    auto machine = make_swapping_machine(512, 16 * test::kMiB, true);
    auto space = test::make_space(*machine);
    constexpr std::size_t kPages = 1024;
    constexpr unsigned kThreads = 3;
    std::vector<VirtAddr> areas;
    for (unsigned t = 0; t < kThreads; ++t)
        areas.push_back(map_anon(*space, kPages * kPageSize));
    test::SpinBarrier barrier(kThreads);
    std::vector<int> wrong(kThreads, 0);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            auto* words = areas[t].ptr<std::uint32_t>();
            std::vector<std::uint32_t> generation(kPages, 1);
            for (std::size_t page = 0; page < kPages; ++page)
                write_page(words, page, 1);
            barrier.arrive_and_wait();
            std::mt19937 random(t);
            for (int step = 0; step < 8000; ++step) {
                std::size_t page = random() % kPages;
                wrong[t] += !page_is(words, page, generation[page]);
                if (random() % 2)
                    write_page(words, page, ++generation[page]);
            }
            for (std::size_t page = 0; page < kPages; ++page)
                wrong[t] += !page_is(words, page, generation[page]);
        });
    }
    for (auto& thread : threads)
        thread.join();
    for (unsigned t = 0; t < kThreads; ++t)
        EXPECT_EQ(wrong[t], 0) << "thread " << t;
    EXPECT_GT(machine->stat().value(VmStatItem::PswpIn), 0);
    space->verify_invariants();
    machine->verify_invariants();
}

TEST(Reclaim, ASecondChanceKeepsTheHotSetResident)
{
    // 64 hot pages touched between every two cold ones, over a cold scan of 4x the frames.
    auto machine = make_swapping_machine(512, 16 * test::kMiB, false);
    auto space = test::make_space(*machine);
    constexpr std::size_t kHot = 64;
    constexpr std::size_t kCold = 2048;
    VirtAddr hot = map_anon(*space, kHot * kPageSize);
    VirtAddr cold = map_anon(*space, kCold * kPageSize);
    auto* hot_bytes = hot.ptr<volatile char>();
    auto* cold_bytes = cold.ptr<volatile char>();
    for (int pass = 0; pass < 2; ++pass) {
        for (std::size_t page = 0; page < kCold; ++page) {
            cold_bytes[page * kPageSize] = 1;
            if (page % 2 == 0) {
                for (std::size_t h = 0; h < kHot; ++h)
                    hot_bytes[h * kPageSize] = 2;
            }
        }
    }
    // The last scan over the hot set costs no major fault: it stayed in memory.
    auto major = machine->stat().value(VmStatItem::PgMajFault);
    for (std::size_t h = 0; h < kHot; ++h)
        EXPECT_EQ(hot_bytes[h * kPageSize], 2);
    EXPECT_EQ(machine->stat().value(VmStatItem::PgMajFault), major);
    EXPECT_GT(machine->stat().value(VmStatItem::PswpOut), 1000);
    EXPECT_GT(machine->stat().value(VmStatItem::PgActivate), 0);
}

// A disk that fails every swap write with error: the pages stay resident and dirty, the error
// is logged once, and once the disk works again the pages can leave.
void expect_failed_swap_writes_keep_pages(int error)
{
    auto machine = make_swapping_machine(512, 16 * test::kMiB, false);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, 256 * kPageSize);
    auto* words = area.ptr<std::uint32_t>();
    for (std::size_t page = 0; page < 256; ++page)
        write_page(words, page, 7);
    machine->swap()->device().inject_failures(IoDirection::Write, error, 1000000);
    testing::internal::CaptureStderr();
    machine->reclaim(256);
    machine->wait_for_swap_io();
    machine->reclaim(256); // again: the error is counted again, not logged again
    machine->wait_for_swap_io();
    std::string logged = testing::internal::GetCapturedStderr();
    std::string expected = std::string("swap write failed: ") + std::strerror(error);
    EXPECT_NE(logged.find(expected), std::string::npos) << logged;
    EXPECT_EQ(logged.find(expected), logged.rfind(expected)) << logged;
    EXPECT_GT(machine->stat().value(VmStatItem::SwapWriteError), 0);
    EXPECT_EQ(machine->stat().value(VmStatItem::PswpOut), 0);
    EXPECT_EQ(machine->swap()->device().slots().nr_free(), machine->swap()->device().slots().total_slots());
    space->verify_invariants();
    machine->verify_invariants();
    for (std::size_t page = 0; page < 256; ++page)
        ASSERT_TRUE(page_is(words, page, 7)) << page;
    EXPECT_EQ(machine->stat().value(VmStatItem::PgMajFault), 0); // never left memory
    // Writes to restored pages land, and once the disk works again the pages can leave.
    for (std::size_t page = 0; page < 256; ++page)
        write_page(words, page, 8);
    machine->swap()->device().inject_failures(IoDirection::Write, error, 0);
    machine->reclaim(256);
    machine->wait_for_swap_io();
    EXPECT_GT(machine->stat().value(VmStatItem::PswpOut), 0);
    for (std::size_t page = 0; page < 256; ++page)
        ASSERT_TRUE(page_is(words, page, 8)) << page;
    space->verify_invariants();
}

TEST(Reclaim, AFailedSwapWriteKeepsThePageResidentAndDirty) { expect_failed_swap_writes_keep_pages(EIO); }

TEST(Reclaim, AFullSwapDiskKeepsThePageResidentAndDirty) { expect_failed_swap_writes_keep_pages(ENOSPC); }

TEST(Reclaim, ShortWritesAreErrorsToo)
{
    auto machine = make_swapping_machine(512, 16 * test::kMiB, false);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, 64 * kPageSize);
    auto* words = area.ptr<std::uint32_t>();
    for (std::size_t page = 0; page < 64; ++page)
        write_page(words, page, 3);
    machine->swap()->device().inject_short_writes(1000000);
    machine->reclaim(64);
    machine->wait_for_swap_io();
    EXPECT_GT(machine->stat().value(VmStatItem::SwapWriteError), 0);
    for (std::size_t page = 0; page < 64; ++page)
        ASSERT_TRUE(page_is(words, page, 3)) << page;
    machine->swap()->device().inject_short_writes(0);
}

TEST(ReclaimDeathTest, AFailedSwapReadIsSigbusNeverAZeroPage)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    auto run = [] {
        struct rlimit no_core { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        auto machine = make_swapping_machine(512, 16 * test::kMiB, false);
        auto space = test::make_space(*machine);
        VirtAddr area = map_anon(*space, 256 * kPageSize);
        for (std::size_t page = 0; page < 256; ++page)
            area.ptr<volatile char>()[page * kPageSize] = 1;
        machine->reclaim(256);
        machine->wait_for_swap_io();
        machine->swap()->device().inject_failures(IoDirection::Read, EIO, 1000000);
        for (std::size_t page = 0; page < 256; ++page)
            (void)area.ptr<volatile char>()[page * kPageSize];
        std::exit(0);
    };
    EXPECT_EXIT(run(), ::testing::KilledBySignal(SIGBUS), "the page could not be read in \\(I/O error\\)");
}

TEST(ReclaimDeathTest, FramesAndSwapBothGoneKillsWithAReport)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    auto run = [] {
        auto machine = make_swapping_machine(256, 1 * test::kMiB, true);
        auto space = test::make_space(*machine);
        VirtAddr area = map_anon(*space, 1024 * kPageSize);
        for (std::size_t page = 0; page < 1024; ++page)
            area.ptr<volatile char>()[page * kPageSize] = 1;
        std::exit(0);
    };
    EXPECT_EXIT(run(), ::testing::KilledBySignal(SIGKILL),
        "vmemu: Out of memory: Killed process [0-9]+ \\(reclaim_test\\) .* swap:1020kB of 1020kB");
}

TEST(Reclaim, StrictCommitRefusesMappingsBeyondFramesAndSwap)
{
    auto machine = make_swapping_machine(512, 1 * test::kMiB, false, OomPolicy::FailMappings);
    auto space = test::make_space(*machine);
    constexpr int kRw = PROT_READ | PROT_WRITE;
    EXPECT_EQ(test::error_of(space->mmap(VirtAddr(), 4 * test::kMiB, kRw, MAP_PRIVATE | MAP_ANONYMOUS)), ENOMEM);
    EXPECT_EQ(space->vma_count(), 0u);
    auto fits = space->mmap(VirtAddr(), 2 * test::kMiB, kRw, MAP_PRIVATE | MAP_ANONYMOUS);
    ASSERT_TRUE(fits);
    // Unreserved mappings are not charged; unmapping gives the charge back.
    EXPECT_TRUE(space->mmap(VirtAddr(), 64 * test::kMiB, kRw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE));
    EXPECT_EQ(test::error_of(space->mmap(VirtAddr(), test::kMiB, kRw, MAP_PRIVATE | MAP_ANONYMOUS)), ENOMEM);
    ASSERT_TRUE(space->munmap(*fits, 2 * test::kMiB));
    EXPECT_TRUE(space->mmap(VirtAddr(), test::kMiB, kRw, MAP_PRIVATE | MAP_ANONYMOUS));
}

TEST(Reclaim, MeminfoVmstatAndSwapsShowTheSwap)
{
    auto machine = make_swapping_machine(512, 4 * test::kMiB, false);
    auto space = test::make_space(*machine);
    auto meminfo = machine->meminfo();
    EXPECT_NE(meminfo.find("SwapTotal:          4092 kB\n"), std::string::npos) << meminfo;
    EXPECT_NE(meminfo.find("SwapFree:           4092 kB\n"), std::string::npos) << meminfo;
    VirtAddr area = map_anon(*space, 256 * kPageSize);
    for (std::size_t page = 0; page < 256; ++page)
        area.ptr<volatile char>()[page * kPageSize] = 1;
    EXPECT_NE(machine->meminfo().find("Inactive(anon):     1024 kB\n"), std::string::npos) << machine->meminfo();
    machine->reclaim(128);
    machine->wait_for_swap_io();
    std::int64_t out = machine->stat().value(VmStatItem::PswpOut);
    EXPECT_GT(out, 0);
    char expected[64];
    std::snprintf(expected, sizeof expected, "SwapFree:       %8lld kB\n", static_cast<long long>(4092 - out * 4));
    EXPECT_NE(machine->meminfo().find(expected), std::string::npos) << machine->meminfo();
    std::string swaps = machine->swaps();
    EXPECT_EQ(swaps.rfind("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n", 0), 0u);
    EXPECT_TRUE(std::regex_search(swaps, std::regex("file\t\t4092\t\t" + std::to_string(out * 4) + "\t\t-2\n")))
        << swaps;
    auto vmstat = machine->vmstat();
    EXPECT_NE(vmstat.find("\npswpout " + std::to_string(out) + "\n"), std::string::npos);
    EXPECT_NE(vmstat.find("\nnr_inactive_anon "), std::string::npos);
}

TEST(Reclaim, KswapdPausedByTheGuardLeavesReclaimToTheFault)
{
    auto machine = make_swapping_machine(512, 16 * test::kMiB, true);
    auto space = test::make_space(*machine);
    {
        ScopedReclaimPause pause(*machine->kswapd());
        VirtAddr area = map_anon(*space, 1024 * kPageSize);
        for (std::size_t page = 0; page < 1024; ++page)
            area.ptr<volatile char>()[page * kPageSize] = 1;
        EXPECT_EQ(machine->stat().value(VmStatItem::PgScanKswapd), 0);
        EXPECT_GT(machine->stat().value(VmStatItem::PgScanDirect), 0);
    }
}


TEST(Reclaim, MlockedPagesStayInMemoryAndMunlockLetsThemGo)
{
    auto machine = make_swapping_machine(512, 16 * test::kMiB, false);
    auto space = test::make_space(*machine);
    VirtAddr locked = map_anon(*space, 128 * kPageSize);
    auto* words = locked.ptr<std::uint32_t>();
    for (std::size_t page = 0; page < 128; ++page)
        write_page(words, page, 5);
    ASSERT_TRUE(space->mlock(locked.offset(100), 128 * kPageSize - 100)); // widened to whole pages
    EXPECT_NE(machine->meminfo().find("Unevictable:         512 kB\n"), std::string::npos) << machine->meminfo();
    EXPECT_NE(machine->meminfo().find("Mlocked:             512 kB\n"), std::string::npos);
    EXPECT_NE(space->smaps().find("VmFlags: rd wr mr mw me lo ac \n"), std::string::npos) << space->smaps();
    // Thrash something else, four times the frames.
    VirtAddr other = map_anon(*space, 2048 * kPageSize);
    for (std::size_t page = 0; page < 2048; ++page)
        other.ptr<volatile char>()[page * kPageSize] = 1;
    EXPECT_GT(machine->stat().value(VmStatItem::PswpOut), 1000);
    auto major = machine->stat().value(VmStatItem::PgMajFault);
    for (std::size_t page = 0; page < 128; ++page)
        ASSERT_TRUE(page_is(words, page, 5));
    EXPECT_EQ(machine->stat().value(VmStatItem::PgMajFault), major); // never swapped
    // MADV_PAGEOUT and MADV_DONTNEED refuse locked memory, as in Linux.
    EXPECT_EQ(test::error_of(space->madvise(locked, 128 * kPageSize, MADV_PAGEOUT)), EINVAL);
    EXPECT_EQ(test::error_of(space->madvise(locked, 128 * kPageSize, MADV_DONTNEED)), EINVAL);
    ASSERT_TRUE(space->munlock(locked, 128 * kPageSize));
    EXPECT_NE(machine->meminfo().find("Unevictable:           0 kB\n"), std::string::npos);
    EXPECT_EQ(machine->stat().value(VmStatItem::UnevictablePgsMunlocked), 128);
    ASSERT_TRUE(space->madvise(locked, 128 * kPageSize, MADV_PAGEOUT));
    machine->wait_for_swap_io();
    for (std::size_t page = 0; page < 128; ++page)
        ASSERT_TRUE(page_is(words, page, 5));
    EXPECT_GT(machine->stat().value(VmStatItem::PgMajFault), major);
    space->verify_invariants();
    machine->verify_invariants();
}

TEST(Reclaim, MapLockedFaultsInLockedPages)
{
    auto machine = make_swapping_machine(512, 16 * test::kMiB, false);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, 64 * kPageSize, PROT_READ | PROT_WRITE, MAP_LOCKED);
    EXPECT_EQ(space->rss_pages(), 64u);
    EXPECT_EQ(machine->stat().value(VmStatItem::NrMlock), 64);
    ASSERT_TRUE(space->munmap(area, 64 * kPageSize));
    EXPECT_EQ(machine->stat().value(VmStatItem::NrMlock), 0);
    machine->verify_invariants();
}

// memtester's way: lock more than the frames can hold, get EAGAIN (as Linux's mlock() in a
// memory cgroup), unlock, and lock a smaller buffer. Nobody is killed, and memory works after.
TEST(Reclaim, MlockOfMoreThanTheFramesIsEagainAndASmallerLockSucceeds)
{
    if (!os::can_lock_without_limit())
        GTEST_SKIP() << "locking more than RLIMIT_MEMLOCK needs CAP_IPC_LOCK (run as root)";
    auto machine = make_swapping_machine(512, 16 * test::kMiB);
    auto space = test::make_space(*machine);
    VirtAddr big = map_anon(*space, 1024 * kPageSize);
    EXPECT_EQ(test::error_of(space->mlock(big, 1024 * kPageSize)), EAGAIN);
    EXPECT_EQ(machine->stat().value(VmStatItem::OomKill), 0);
    // Locked as far as it could be faulted in, as Linux leaves it.
    EXPECT_NE(space->smaps().find(" lo "), std::string::npos) << space->smaps();
    ASSERT_TRUE(space->munlock(big, 1024 * kPageSize));
    ASSERT_TRUE(space->munmap(big, 1024 * kPageSize));
    VirtAddr small = map_anon(*space, 256 * kPageSize);
    ASSERT_TRUE(space->mlock(small, 256 * kPageSize));
    auto* words = small.ptr<std::uint32_t>();
    for (std::size_t page = 0; page < 256; ++page)
        write_page(words, page, 3);
    for (std::size_t page = 0; page < 256; ++page)
        ASSERT_TRUE(page_is(words, page, 3));
    EXPECT_EQ(machine->stat().value(VmStatItem::NrMlock), 256);
    space->verify_invariants();
    machine->verify_invariants();
}

TEST(Reclaim, MlockRejectsBadArguments)
{
    auto machine = make_swapping_machine(512, 4 * test::kMiB, false);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, 4 * kPageSize);
    EXPECT_EQ(test::error_of(space->mlock(area, SIZE_MAX)), EINVAL);
    EXPECT_EQ(test::error_of(space->mlock(space->reservation_start(), kPageSize)), ENOMEM);
    EXPECT_EQ(test::error_of(space->mlock(area.page_offset(-1), 2 * kPageSize)), ENOMEM);
    EXPECT_EQ(test::error_of(space->munlock(space->reservation_start(), kPageSize)), ENOMEM);
    EXPECT_TRUE(space->mlock(area, 0));
    // Without CAP_IPC_LOCK, RLIMIT_MEMLOCK rules: 0 is EPERM, too small is ENOMEM. (In a child
    // that gives up the capability; the child cannot use the parent's emulated memory, but
    // these calls fail before they would touch it.)
    EXPECT_EQ(test::without_ipc_lock(kPageSize, [&] {
        if (test::error_of(space->mlock(area, 2 * kPageSize)) != ENOMEM)
            return 2;
        // Lowering a limit needs no privilege; raising one would.
        struct rlimit zero { 0, 0 };
        setrlimit(RLIMIT_MEMLOCK, &zero);
        return test::error_of(space->mlock(area, kPageSize)) == EPERM ? 0 : 3;
    }), 0);
}

TEST(Reclaim, MlockOverAProtNoneMappingLocksItAndSaysEnomem)
{
    // __mm_populate() cannot fault a PROT_NONE VMA in: mlock() leaves the range locked and
    // fails with ENOMEM, as the kernel's does.
    auto machine = make_swapping_machine(512, 4 * test::kMiB, false);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, 4 * kPageSize);
    ASSERT_TRUE(space->mprotect(area.page_offset(2), 2 * kPageSize, PROT_NONE));
    EXPECT_EQ(test::error_of(space->mlock(area, 4 * kPageSize)), ENOMEM);
    std::string smaps = space->smaps();
    std::size_t locked = 0;
    for (std::size_t at = smaps.find("VmFlags:"); at != std::string::npos; at = smaps.find("VmFlags:", at + 1))
        locked += smaps.substr(at, smaps.find('\n', at) - at).find(" lo ") != std::string::npos;
    EXPECT_EQ(locked, 2u) << smaps;
    char* real = static_cast<char*>(mmap(nullptr, 4 * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_EQ(mprotect(real + 2 * kPageSize, 2 * kPageSize, PROT_NONE), 0);
    // The system call itself: ASan's mlock() interceptor does nothing and says 0.
    EXPECT_EQ(syscall(SYS_mlock, real, 4 * kPageSize), -1);
    EXPECT_EQ(errno, ENOMEM);
    munmap(real, 4 * kPageSize);
    EXPECT_TRUE(space->munlock(area, 4 * kPageSize));
}

TEST(Reclaim, MremapDontunmapUnlocksTheWholeVmaItMovesOutOf)
{
    // dontunmap_complete() clears VM_LOCKED from the old VMA, all of it, not only from the
    // range moved out; the moved range stays locked. The same on both sides.
    constexpr std::size_t kPages = 4;
    auto machine = make_swapping_machine(512, 4 * test::kMiB, false);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, kPages * kPageSize);
    ASSERT_TRUE(space->mlock(area, kPages * kPageSize));
    VirtAddr target_here = map_anon(*space, kPageSize, PROT_NONE);
    auto moved = space->mremap(area.page_offset(2), kPageSize, kPageSize,
        MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED, target_here);
    ASSERT_TRUE(moved) << moved.error().what();
    std::string smaps = space->smaps();
    EXPECT_EQ(test::locked_page_marks(smaps, area.get(), kPages), "....") << smaps;
    EXPECT_EQ(test::locked_page_marks(smaps, moved->get(), 1), "L") << smaps;
    EXPECT_EQ(test::stat_of(*machine, VmStatItem::NrMlock), 1);

    auto* real = static_cast<char*>(mmap(nullptr, kPages * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(real, MAP_FAILED);
    ASSERT_EQ(syscall(SYS_mlock, real, kPages * kPageSize), 0) << std::strerror(errno);
    // To a place of its own, as the differential test found it (MREMAP_FIXED).
    void* target = mmap(nullptr, kPageSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(target, MAP_FAILED);
    void* real_moved = mremap(real + 2 * kPageSize, kPageSize, kPageSize,
        MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED, target);
    ASSERT_EQ(real_moved, target) << std::strerror(errno);
    std::ifstream in("/proc/self/smaps");
    std::string kernel((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(test::locked_page_marks(kernel, reinterpret_cast<std::uintptr_t>(real), kPages), "....");
    EXPECT_EQ(test::locked_page_marks(kernel, reinterpret_cast<std::uintptr_t>(real_moved), 1), "L");
    munmap(real, kPages * kPageSize);
    munmap(real_moved, kPageSize);
}

TEST(Reclaim, PageoutWillneedAndColdDoWhatLinuxDoes)
{
    // Both views keep a page read back from swap in the swap cache, write-protected (the
    // userfaultfd view where the kernel has userfaultfd write protection), so that its first
    // write faults and lets go of the stale copy.
    auto machine = make_swapping_machine(1024, 16 * test::kMiB, false);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, 64 * kPageSize);
    auto* words = area.ptr<std::uint32_t>();
    for (std::size_t page = 0; page < 64; ++page)
        write_page(words, page, 9);
    // MADV_COLD: the pages lose their accessed bits.
    EXPECT_NE(space->smaps().find("Referenced:          256 kB"), std::string::npos);
    ASSERT_TRUE(space->madvise(area, 64 * kPageSize, MADV_COLD));
    EXPECT_NE(space->smaps().find("Referenced:            0 kB"), std::string::npos) << space->smaps();
    // MADV_PAGEOUT: out now, referenced or not.
    ASSERT_TRUE(space->madvise(area, 64 * kPageSize, MADV_PAGEOUT));
    machine->wait_for_swap_io();
    EXPECT_EQ(space->rss_pages(), 0u);
    EXPECT_EQ(machine->stat().value(VmStatItem::PswpOut), 64);
    // MADV_WILLNEED: back into the swap cache ahead of use; the touches are then minor faults.
    ASSERT_TRUE(space->madvise(area, 64 * kPageSize, MADV_WILLNEED));
    machine->wait_for_swap_io();
    EXPECT_EQ(machine->swap()->cache().pages(), 64u);
    auto major = machine->stat().value(VmStatItem::PgMajFault);
    for (std::size_t page = 0; page < 64; ++page)
        ASSERT_TRUE(page_is(words, page, 9)) << page;
    EXPECT_EQ(machine->stat().value(VmStatItem::PgMajFault), major);
    // Read, not written: the pages keep their clean copies in swap, and leaving again costs
    // no write.
    EXPECT_EQ(machine->swap()->cache().pages(), 64u);
    EXPECT_NE(machine->meminfo().find("SwapCached:          256 kB\n"), std::string::npos) << machine->meminfo();
    ASSERT_TRUE(space->madvise(area, 64 * kPageSize, MADV_PAGEOUT));
    machine->wait_for_swap_io();
    EXPECT_EQ(space->rss_pages(), 0u);
    EXPECT_EQ(machine->stat().value(VmStatItem::PswpOut), 64); // nothing written the second time
    for (std::size_t page = 0; page < 64; ++page)
        ASSERT_TRUE(page_is(words, page, 9)) << page;
    // A write makes the swap copy stale: the page leaves the cache and its slot is freed.
    for (std::size_t page = 0; page < 64; ++page)
        write_page(words, page, 10);
    EXPECT_EQ(machine->swap()->cache().pages(), 0u);
    EXPECT_EQ(machine->swap()->device().slots().nr_free(), machine->swap()->device().slots().total_slots());
    ASSERT_TRUE(space->madvise(area, 64 * kPageSize, MADV_PAGEOUT));
    machine->wait_for_swap_io();
    EXPECT_EQ(machine->stat().value(VmStatItem::PswpOut), 128);
    for (std::size_t page = 0; page < 64; ++page)
        ASSERT_TRUE(page_is(words, page, 10)) << page;
    space->verify_invariants();
    machine->verify_invariants();
}


TEST(Reclaim, SequentialSwapInsReadAheadAlongTheVmaWhereverTheSlotsAre)
{
    auto machine = make_swapping_machine(1024, 16 * test::kMiB, false);
    auto space = test::make_space(*machine);
    constexpr std::size_t kPages = 256;
    VirtAddr area = map_anon(*space, kPages * kPageSize);
    auto* words = area.ptr<std::uint32_t>();
    for (std::size_t page = 0; page < kPages; ++page)
        write_page(words, page, 4);
    // Page out one page at a time in a random order: consecutive slots hold pages far apart.
    std::vector<std::size_t> order(kPages);
    for (std::size_t page = 0; page < kPages; ++page)
        order[page] = page;
    std::shuffle(order.begin(), order.end(), std::mt19937(5));
    for (std::size_t page : order)
        ASSERT_TRUE(space->madvise(area.page_offset(static_cast<std::int64_t>(page)), kPageSize, MADV_PAGEOUT));
    machine->wait_for_swap_io();
    ASSERT_EQ(space->rss_pages(), 0u);
    auto hits = machine->stat().value(VmStatItem::SwapRaHit);
    auto major = machine->stat().value(VmStatItem::PgMajFault);
    for (std::size_t page = 0; page < kPages; ++page)
        ASSERT_TRUE(page_is(words, page, 4)) << page;
    // Most pages came in ahead of their fault.
    EXPECT_GT(machine->stat().value(VmStatItem::SwapRaHit) - hits, static_cast<std::int64_t>(kPages / 2));
    EXPECT_LT(machine->stat().value(VmStatItem::PgMajFault) - major, static_cast<std::int64_t>(kPages / 2));
    space->verify_invariants();
}


TEST(ReclaimRace, ReclaimRacingMadviseDontneedNeverTakesAPageBeingFreed)
{
    // madvise(MADV_DONTNEED) drops the last reference of pages that reclaim, in another thread,
    // is isolating from the LRU at the same moment.
    auto machine = make_swapping_machine(4096, 64 * test::kMiB, false);
    auto space = test::make_space(*machine);
    constexpr std::size_t kPages = 64;
    std::atomic<bool> stop { false };
    std::thread reclaimer([&] {
        while (!stop.load())
            (void)machine->reclaim(32);
    });
    VirtAddr area = map_anon(*space, kPages * kPageSize);
    auto* words = area.ptr<std::uint32_t>();
    for (int round = 0; round < 3000; ++round) {
        for (std::size_t page = 0; page < kPages; ++page)
            write_page(words, page, static_cast<std::uint32_t>(round));
        for (std::size_t page = 0; page < kPages; page += 7)
            ASSERT_TRUE(page_is(words, page, static_cast<std::uint32_t>(round))) << round;
        ASSERT_TRUE(space->madvise(area, kPages * kPageSize, MADV_DONTNEED));
    }
    stop = true;
    reclaimer.join();
    machine->wait_for_swap_io();
    space->verify_invariants();
    machine->verify_invariants();
}

TEST(Reclaim, PinnedPagesStayResidentAndInTheKernelsViewUntilUnpinned)
{
    // A read(2) into pinned pages works while reclaim runs: they are neither swapped out nor
    // taken out of the kernel's view to watch their accessed bits.
    auto machine = make_swapping_machine(512, 16 * test::kMiB, false);
    auto space = test::make_space(*machine);
    constexpr std::size_t kPages = 64;
    VirtAddr buffer = map_anon(*space, kPages * kPageSize);
    std::vector<PageFrame*> pins(kPages + 1);
    ASSERT_EQ(space->pin_user_pages(buffer.offset(100), kPages * kPageSize - 200, true, pins.data()), kPages);
    // Pressure: a working set of twice the frames.
    VirtAddr other = map_anon(*space, 1024 * kPageSize);
    for (std::size_t page = 0; page < 1024; ++page)
        write_page(other.ptr<std::uint32_t>(), page, 7);
    (void)machine->reclaim(machine->frame_count());
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    std::vector<char> data(kPages * kPageSize, 'v');
    for (std::size_t done = 0; done < data.size();) {
        ASSERT_EQ(write(fds[1], data.data() + done, 65536), 65536);
        ASSERT_EQ(read(fds[0], buffer.ptr<char>() + done, 65536), 65536) << "EFAULT on a pinned page";
        done += 65536;
    }
    space->unpin_user_pages(pins.data(), kPages);
    EXPECT_EQ(machine->stat().value(VmStatItem::PswpOut) > 0, true);
    std::int64_t out_before = machine->stat().value(VmStatItem::PswpOut);
    (void)machine->reclaim(machine->frame_count());
    (void)machine->reclaim(machine->frame_count());
    machine->wait_for_swap_io();
    EXPECT_GT(machine->stat().value(VmStatItem::PswpOut), out_before); // unpinned, they may go
    EXPECT_EQ(buffer.ptr<char>()[kPages * kPageSize - 1], 'v');
    close(fds[0]);
    close(fds[1]);
    space->verify_invariants();
}

TEST(ReclaimRace, FailedWritesOfMovedPagesLoseNothing)
{
    // Every swap write fails while mremap moves the range back and forth: a page whose write
    // failed must come back wherever its PTE has gone.
    auto machine = make_swapping_machine(1024, 16 * test::kMiB, false);
    auto space = test::make_space(*machine);
    machine->swap()->device().inject_failures(IoDirection::Write, EIO, 1u << 30);
    constexpr std::size_t kPages = 64;
    VirtAddr area = map_anon(*space, kPages * kPageSize);
    std::atomic<bool> stop { false };
    std::thread reclaimer([&] {
        while (!stop.load())
            (void)machine->reclaim(32);
    });
    for (int round = 0; round < 300; ++round) {
        auto* words = area.ptr<std::uint32_t>();
        for (std::size_t page = 0; page < kPages; ++page)
            write_page(words, page, static_cast<std::uint32_t>(round));
        auto moved = space->mremap(area, kPages * kPageSize, kPages * kPageSize, MREMAP_MAYMOVE | MREMAP_FIXED,
            area == space->reservation_start() ? area.offset(test::kMiB) : space->reservation_start());
        ASSERT_TRUE(moved);
        area = *moved;
        words = area.ptr<std::uint32_t>();
        for (std::size_t page = 0; page < kPages; ++page)
            ASSERT_TRUE(page_is(words, page, static_cast<std::uint32_t>(round))) << "round " << round << " page " << page;
    }
    stop = true;
    reclaimer.join();
    machine->wait_for_swap_io();
    machine->swap()->device().inject_failures(IoDirection::Write, EIO, 0);
    space->verify_invariants();
    ASSERT_TRUE(space->munmap(area, kPages * kPageSize));
    machine->wait_for_swap_io();
    EXPECT_EQ(machine->swap()->device().slots().nr_free(), machine->swap()->device().slots().total_slots());
    EXPECT_EQ(machine->swap()->cache().pages(), 0u);
}

} // namespace
} // namespace vmemu
