// fork(2) of a process that runs on a Machine: prepare_fork(), then fork_parent() or
// fork_child(). The child's copy of the emulated memory, frames and swap alike, is the
// parent's at the instant of fork(), and from then on each side's writes are its own.
#include <algorithm>
#include <cstdlib>
#include <vector>
#include <sys/wait.h>
#include <unistd.h>
#include "test_support.hpp"

namespace vmemu {
namespace {

using test::exit_status;
using test::map_anon;

using test::fork_with;
using test::make_swapping_machine;

std::uint64_t word_of(std::size_t page, std::uint64_t generation) { return page * 1000003 + generation; }

void write_pages(VirtAddr area, std::size_t first, std::size_t count, std::size_t step, std::uint64_t generation)
{
    for (std::size_t page = first; page < count; page += step) {
        auto* words = area.offset(page * kPageSize).ptr<std::uint64_t>();
        words[0] = words[511] = word_of(page, generation);
    }
}

bool pages_hold(VirtAddr area, std::size_t first, std::size_t count, std::size_t step, std::uint64_t generation)
{
    for (std::size_t page = first; page < count; page += step) {
        auto* words = area.offset(page * kPageSize).ptr<std::uint64_t>();
        if (words[0] != word_of(page, generation) || words[511] != word_of(page, generation))
            return false;
    }
    return true;
}

TEST(ProcessFork, ChildGetsAPrivateCopyOfFramesAndSwap)
{
    constexpr std::size_t kPages = 2048; // 8 MiB on 2 MiB of frames
    auto machine = make_swapping_machine(512, 32 * test::kMiB);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, kPages * kPageSize);
    write_pages(area, 0, kPages, 1, 1);
    machine->wait_for_swap_io();
    ASSERT_GT(machine->stat().value(VmStatItem::PswpOut), 0);
    std::string parent_swaps = machine->swaps();

    pid_t child = fork_with(*machine, [&] {
        if (!pages_hold(area, 0, kPages, 1, 1))
            return 1;
        if (machine->swaps() == parent_swaps) // a swap file of its own, by name
            return 2;
        write_pages(area, 0, kPages, 1, 2);
        if (!pages_hold(area, 0, kPages, 1, 2))
            return 3;
        machine->verify_invariants();
        space->verify_invariants();
        // The child's machine comes apart cleanly: its threads and its files are its own.
        space.reset();
        machine.reset();
        return 0;
    });
    ASSERT_GT(child, 0);
    // Meanwhile the parent writes half of its pages again.
    write_pages(area, 0, kPages, 2, 3);
    EXPECT_EQ(exit_status(child), 0);
    EXPECT_TRUE(pages_hold(area, 0, kPages, 2, 3));
    EXPECT_TRUE(pages_hold(area, 1, kPages, 2, 1));
    machine->verify_invariants();
    space->verify_invariants();
}

TEST(ProcessFork, CopyIsTheParentsMemoryAtOneInstantWhileAThreadWrites)
{
    constexpr std::size_t kLedgerPages = 256;
    constexpr std::size_t kWords = kLedgerPages * kPageSize / sizeof(std::uint64_t);
    auto machine = make_swapping_machine(1024, 16 * test::kMiB);
    auto space = test::make_space(*machine);
    auto* ledger = map_anon(*space, kLedgerPages * kPageSize).ptr<std::uint64_t>();
    std::atomic<bool> stop { false };
    std::atomic<std::uint64_t> passes { 0 };
    // Pass p stamps p on every word in ascending order: the ledger at one instant reads
    // p, ..., p, p - 1, ..., p - 1.
    std::thread writer([&] {
        for (std::uint64_t pass = 1; !stop.load(std::memory_order_relaxed); ++pass) {
            for (std::size_t i = 0; i < kWords; ++i)
                __atomic_store_n(&ledger[i], pass, __ATOMIC_RELAXED);
            passes.store(pass, std::memory_order_relaxed);
        }
    });
    for (int round = 0; round < 5; ++round) {
        std::uint64_t seen = passes.load();
        while (passes.load() < seen + 2)
            std::this_thread::yield();
        pid_t child = fork_with(*machine, [&] {
            for (std::size_t i = 1; i < kWords; ++i) {
                if (ledger[i] > ledger[i - 1])
                    return 1;
            }
            return 0;
        });
        ASSERT_GT(child, 0);
        EXPECT_EQ(exit_status(child), 0) << "round " << round;
    }
    stop.store(true);
    writer.join();
    space->verify_invariants();
}

TEST(ProcessFork, ChildThatExitsAtOnceCostsTheParentNothingButTheCopy)
{
    auto machine = make_swapping_machine(512, 16 * test::kMiB);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, 1024 * kPageSize);
    write_pages(area, 0, 1024, 1, 7);
    for (int round = 0; round < 10; ++round) {
        pid_t child = fork_with(*machine, [] { return 0; });
        ASSERT_GT(child, 0);
        EXPECT_EQ(exit_status(child), 0);
    }
    EXPECT_TRUE(pages_hold(area, 0, 1024, 1, 7));
    machine->verify_invariants();
}

TEST(ProcessFork, ChildsWritesToZeroPagesAndCleanPagesAreSeen)
{
    // Pages read but never written (zero pages), and pages read back from swap (clean, in the
    // swap cache): on the userfaultfd view the child inherits them mapped, write-protected
    // again, so that its writes fault. A write vmemu did not see would be lost when reclaim
    // drops the page as a zero page, or as a clean copy of its slot.
    constexpr std::size_t kPages = 1024; // 4 MiB on 2 MiB of frames
    auto machine = make_swapping_machine(512, 32 * test::kMiB);
    auto space = test::make_space(*machine);
    VirtAddr zeros = map_anon(*space, kPages / 4 * kPageSize);
    VirtAddr area = map_anon(*space, kPages * kPageSize);
    write_pages(area, 0, kPages, 1, 1);
    machine->wait_for_swap_io();
    // The last pages written are in frames; the first went to swap and are read back clean.
    EXPECT_TRUE(pages_hold(area, 0, kPages / 8, 1, 1));
    for (std::size_t page = 0; page < kPages / 4; ++page)
        ASSERT_EQ(zeros.offset(page * kPageSize).ptr<volatile std::uint64_t>()[0], 0u);

    pid_t child = fork_with(*machine, [&] {
        write_pages(zeros, 0, kPages / 4, 1, 5);
        write_pages(area, 0, kPages / 8, 1, 6);
        // Everything else is written too, so that the pages above go to swap and come back.
        write_pages(area, kPages / 8, kPages, 1, 7);
        // And mprotect() takes the zero pages' range out of the hardware view.
        if (!space->mprotect(zeros, kPages / 4 * kPageSize, PROT_READ))
            return 4;
        if (!pages_hold(zeros, 0, kPages / 4, 1, 5))
            return 1;
        if (!pages_hold(area, 0, kPages / 8, 1, 6))
            return 2;
        if (!pages_hold(area, kPages / 8, kPages, 1, 7))
            return 3;
        machine->verify_invariants();
        space->verify_invariants();
        return 0;
    });
    ASSERT_GT(child, 0);
    EXPECT_EQ(exit_status(child), 0);
    EXPECT_TRUE(pages_hold(area, 0, kPages, 1, 1));
    for (std::size_t page = 0; page < kPages / 4; ++page)
        ASSERT_EQ(zeros.offset(page * kPageSize).ptr<volatile std::uint64_t>()[0], 0u) << page;
    machine->verify_invariants();
}

TEST(ProcessFork, ParentReclaimsPagesItSharesWithALiveChild)
{
    // While the child lives, the pages both inherited from the fork are shared copy-on-write
    // in the kernel (on the userfaultfd view), and the parent's reclaim must still take them
    // out: each side keeps its own bytes.
    constexpr std::size_t kPages = 2048; // 8 MiB on 2 MiB of frames
    auto machine = make_swapping_machine(512, 32 * test::kMiB);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, kPages * kPageSize);
    write_pages(area, kPages - 400, kPages, 1, 1); // 400 pages in frames, nothing in swap
    int go[2];
    ASSERT_EQ(pipe(go), 0);
    pid_t child = fork_with(*machine, [&] {
        char byte;
        if (read(go[0], &byte, 1) != 1)
            return 1;
        if (!pages_hold(area, kPages - 400, kPages, 1, 1))
            return 2;
        write_pages(area, 0, kPages, 1, 3);
        if (!pages_hold(area, 0, kPages, 1, 3))
            return 3;
        return 0;
    });
    ASSERT_GT(child, 0);
    // The parent pages the shared pages out, and its writes push more out of its frames.
    ASSERT_TRUE(space->madvise(area.offset((kPages - 400) * kPageSize), 400 * kPageSize, MADV_PAGEOUT));
    machine->wait_for_swap_io();
    std::vector<unsigned char> resident(400);
    ASSERT_TRUE(space->mincore(area.offset((kPages - 400) * kPageSize), 400 * kPageSize, resident.data()));
    EXPECT_EQ(std::count(resident.begin(), resident.end(), 0), 400);
    write_pages(area, 0, kPages - 400, 1, 2);
    machine->wait_for_swap_io();
    EXPECT_GT(machine->stat().value(VmStatItem::PswpOut), 0);
    EXPECT_TRUE(pages_hold(area, kPages - 400, kPages, 1, 1));
    EXPECT_TRUE(pages_hold(area, 0, kPages - 400, 1, 2));
    ASSERT_EQ(write(go[1], "x", 1), 1);
    EXPECT_EQ(exit_status(child), 0);
    close(go[0]);
    close(go[1]);
    EXPECT_TRUE(pages_hold(area, 0, kPages - 400, 1, 2));
    machine->verify_invariants();
    space->verify_invariants();
}

} // namespace
} // namespace vmemu
