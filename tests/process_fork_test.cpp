// fork(2) of a process that runs on a Machine: prepare_fork(), then fork_parent() or
// fork_child(). The child's copy of the emulated memory, frames and swap alike, is the
// parent's at the instant of fork(), and from then on each side's writes are its own.
#include <cstdlib>
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

} // namespace
} // namespace vmemu
