// The races that matter, lined up on spin barriers. Each test starts its threads at the same
// moment, round after round, and checks after each round that no byte was lost and that every
// outcome is one the kernel could give: a value, or SEGV_MAPERR after munmap, or SEGV_ACCERR
// after mprotect, never EFAULT from a system call into memory that is mapped.
//
// ctest runs the rounds written here. VMEMU_STRESS=N runs N times as many: the stress mode
// (tests/README.md). The TSan build runs this file in CI.
#include <chrono>
#include <csetjmp>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <vector>
#include "test_support.hpp"

namespace vmemu {
namespace {

using test::map_anon;
using test::SpinBarrier;

// base rounds, times the factor in VMEMU_STRESS.
int rounds(int base)
{
    static const int factor = [] {
        const char* text = std::getenv("VMEMU_STRESS");
        if (text == nullptr)
            return 1;
        char* end = nullptr;
        long value = std::strtol(text, &end, 10);
        if (*text == '\0' || *end != '\0' || value < 1 || value > 100000) {
            std::fprintf(stderr, "VMEMU_STRESS takes a factor from 1 to 100000, not '%s'\n", text);
            std::exit(2);
        }
        return static_cast<int>(value);
    }();
    return base * factor;
}

// The program's own SIGSEGV handler, for accesses that may lose a race with munmap or mprotect:
// the thread that armed it gets the si_code back instead of dying.
thread_local sigjmp_buf t_recover;
thread_local volatile sig_atomic_t t_armed;
thread_local volatile sig_atomic_t t_si_code;

void program_handler(int, siginfo_t* info, void*)
{
    if (!t_armed) {
        static const char message[] = "concurrency_test: SIGSEGV on an access that cannot fault\n";
        (void)!::write(STDERR_FILENO, message, sizeof message - 1);
        std::abort();
    }
    t_armed = 0;
    t_si_code = info->si_code;
    siglongjmp(t_recover, 1);
}

struct ScopedProgramHandler : test::ScopedSegvHandler {
    ScopedProgramHandler()
        : ScopedSegvHandler(program_handler)
    {
    }
};

// Writes value at address: 0, or the si_code of the SIGSEGV that stopped the write.
int try_write(volatile std::uint32_t* address, std::uint32_t value)
{
    if (sigsetjmp(t_recover, 1) != 0)
        return t_si_code;
    t_armed = 1;
    *address = value;
    t_armed = 0;
    return 0;
}

// Reads address into value: 0, or the si_code of the SIGSEGV that stopped the read.
int try_read(const volatile std::uint32_t* address, volatile std::uint32_t& value)
{
    if (sigsetjmp(t_recover, 1) != 0)
        return t_si_code;
    t_armed = 1;
    value = *address;
    t_armed = 0;
    return 0;
}

// Spins a while that changes from round to round, up to limit spins, so that the racing call
// lands early in one round and late in another.
void spin_for(int round, std::uint64_t limit = 20000)
{
    std::atomic<std::uint64_t> spins { 0 };
    std::uint64_t until = static_cast<std::uint64_t>(round) * 7919 % limit;
    while (spins.fetch_add(1, std::memory_order_relaxed) < until) {
    }
}

volatile std::uint32_t* word_at(VirtAddr area, std::size_t page, std::size_t word)
{
    return area.offset(page * kPageSize + word * sizeof(std::uint32_t)).ptr<volatile std::uint32_t>();
}

// A range that is mapped and unmapped again round after round, and the thread that unmaps
// it: each round it waits at the barrier, spins a while (spin_for) and unmaps the range, then
// waits at the barrier again. gone() says whether this round's munmap has returned.
class Unmapper {
public:
    // spin_limit: the longest wait before a munmap, in spins (spin_for()).
    Unmapper(AddressSpace& space, std::size_t bytes, SpinBarrier& barrier, int rounds, std::uint64_t spin_limit = 20000)
        : m_space(space)
        , m_bytes(bytes)
    {
        m_where = map_anon(space, bytes);
        EXPECT_TRUE(space.munmap(m_where, bytes));
        m_thread = std::thread([this, &barrier, rounds, spin_limit] {
            for (int round = 0; round < rounds; ++round) {
                barrier.arrive_and_wait();
                spin_for(round, spin_limit);
                (void)m_space.munmap(m_where, m_bytes);
                m_gone.store(true, std::memory_order_release);
                barrier.arrive_and_wait();
            }
        });
    }
    ~Unmapper() { m_thread.join(); }
    VirtAddr where() const { return m_where; }
    // Maps the range again (before the round's first barrier).
    bool map()
    {
        m_gone.store(false, std::memory_order_relaxed);
        return m_space.mmap(m_where, m_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED).has_value();
    }
    bool gone() const { return m_gone.load(std::memory_order_acquire); }

private:
    AddressSpace& m_space;
    std::size_t m_bytes;
    VirtAddr m_where;
    std::atomic<bool> m_gone { false };
    std::thread m_thread;
};

// Free swap slots after everything reclaimable went: what a test compares with its start.
std::uint32_t settled_free_slots(Machine& machine)
{
    machine.wait_for_swap_io();
    (void)machine.reclaim(machine.frame_count());
    machine.wait_for_swap_io();
    (void)machine.reclaim(machine.frame_count());
    return machine.swap()->device().slots().nr_free();
}

void check_invariants(Machine& machine, AddressSpace& space)
{
    machine.wait_for_swap_io();
    space.verify_invariants();
    machine.verify_invariants();
}

TEST(Race, TwoThreadsFaultingTheSamePageAgree)
{
    // Each round the page is first never touched, then swapped out. Both times the two threads
    // fault it at the same moment: a reader and a writer, or two writers, on their own words.
    auto machine = test::make_swapping_machine(1024, 16 * test::kMiB, false);
    auto space = test::make_space(*machine);
    constexpr std::size_t kPages = 16;
    VirtAddr area = map_anon(*space, kPages * kPageSize);
    SpinBarrier barrier(2);
    const int kRounds = rounds(1500);
    std::atomic<int> wrong { 0 };
    auto body = [&](unsigned t) {
        for (int round = 0; round < kRounds; ++round) {
            std::size_t page = static_cast<std::size_t>(round) % kPages;
            std::uint32_t value = static_cast<std::uint32_t>(round + 1);
            volatile std::uint32_t* mine = word_at(area, page, t * 512);
            volatile std::uint32_t* theirs = word_at(area, page, (1 - t) * 512);
            if (t == 0)
                (void)space->madvise(area.offset(page * kPageSize), kPageSize, MADV_DONTNEED);
            barrier.arrive_and_wait();
            if (t == 1 && round % 2 == 0 && *mine != 0) // the reader sees the zero page or a frame
                wrong.fetch_add(1);
            *mine = value;
            barrier.arrive_and_wait();
            if (t == 0) {
                (void)space->madvise(area.offset(page * kPageSize), kPageSize, MADV_PAGEOUT);
                machine->wait_for_swap_io();
                if (round % 2 == 0) // out of the swap cache too: both fault on the swap entry
                    (void)machine->reclaim(machine->frame_count());
            }
            barrier.arrive_and_wait();
            if (*mine != value || *theirs != value) // both swap the page in at once
                wrong.fetch_add(1);
            barrier.arrive_and_wait();
        }
    };
    std::thread other(body, 1);
    body(0);
    other.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_GT(test::stat_of(*machine, VmStatItem::PswpOut), 0);
    check_invariants(*machine, *space);
}

TEST(Race, AFaultRacingReclaimOfItsPageKeepsTheLastWrite)
{
    // One thread writes (or reads) the page while the other pages it out at the same moment.
    auto machine = test::make_swapping_machine(1024, 16 * test::kMiB, false);
    auto space = test::make_space(*machine);
    VirtAddr page = map_anon(*space, kPageSize);
    SpinBarrier barrier(2);
    const int kRounds = rounds(3000);
    std::atomic<int> wrong { 0 };
    std::uint32_t last = 0;
    std::thread reclaimer([&] {
        for (int round = 0; round < kRounds; ++round) {
            barrier.arrive_and_wait();
            (void)space->madvise(page, kPageSize, MADV_PAGEOUT);
            barrier.arrive_and_wait();
        }
    });
    for (int round = 0; round < kRounds; ++round) {
        barrier.arrive_and_wait();
        if (round % 3 == 2) {
            if (*word_at(page, 0, 0) != last || *word_at(page, 0, 1023) != last)
                wrong.fetch_add(1);
        } else {
            last = static_cast<std::uint32_t>(round);
            *word_at(page, 0, 0) = last;
            *word_at(page, 0, 1023) = last;
        }
        barrier.arrive_and_wait();
    }
    reclaimer.join();
    machine->wait_for_swap_io();
    EXPECT_EQ(*word_at(page, 0, 0), last);
    EXPECT_EQ(*word_at(page, 0, 1023), last);
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_GT(test::stat_of(*machine, VmStatItem::PswpOut), 0);
    check_invariants(*machine, *space);
}

TEST(Race, MunmapRacingFaultsEndsInSegvMaperrAndFreesEverything)
{
    // One thread writes and reads back the pages of a range, pass after pass, while the other
    // unmaps it. Each access succeeds or gets SEGV_MAPERR; once one got it, all later ones do;
    // a mapping made again at the same place reads zero.
    auto machine = test::make_swapping_machine(1024, 16 * test::kMiB, false);
    auto space = test::make_space(*machine);
    ScopedProgramHandler handler;
    constexpr std::size_t kPages = 8;
    std::uint32_t free_slots = machine->swap()->device().slots().nr_free();
    SpinBarrier barrier(2);
    const int kRounds = rounds(1500);
    std::atomic<int> wrong { 0 };
    int overlapped = 0;
    {
        Unmapper unmapper(*space, kPages * kPageSize, barrier, kRounds);
        VirtAddr where = unmapper.where();
        for (int round = 0; round < kRounds; ++round) {
            EXPECT_TRUE(unmapper.map()); // no ASSERT: the unmapper waits at the barrier
            // Some pages present, some swapped out, some never touched.
            for (std::size_t page = 0; page < kPages; page += 2) {
                if (*word_at(where, page, 7) != 0)
                    wrong.fetch_add(1);
                *word_at(where, page, 7) = 1;
            }
            (void)space->madvise(where.offset(4 * kPageSize), 2 * kPageSize, MADV_PAGEOUT);
            barrier.arrive_and_wait();
            bool unmapped = false;
            bool succeeded = false;
            // Passes until a whole pass ran after munmap returned: that one must fault throughout.
            for (std::uint32_t pass = 0;; ++pass) {
                bool last_pass = unmapper.gone();
                for (std::size_t page = 0; page < kPages; ++page) {
                    std::uint32_t value = pass * kPages + static_cast<std::uint32_t>(page);
                    volatile std::uint32_t seen = 0;
                    int written = try_write(word_at(where, page, 9), value);
                    int read = try_read(word_at(where, page, 9), seen);
                    bool faulted = written != 0 || read != 0;
                    bool as_kernel = (written == 0 || written == SEGV_MAPERR) && (read == 0 || read == SEGV_MAPERR)
                        && !(unmapped && !faulted) && !(last_pass && !faulted) && (faulted || seen == value);
                    if (!as_kernel)
                        wrong.fetch_add(1);
                    unmapped = unmapped || faulted;
                    succeeded = succeeded || !faulted;
                }
                if (last_pass)
                    break;
            }
            if (succeeded && unmapped)
                ++overlapped;
            barrier.arrive_and_wait();
        }
    }
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(test::stat_of(*machine, VmStatItem::NrAnonPages), 0);
    EXPECT_EQ(settled_free_slots(*machine), free_slots);
    std::printf("%d of %d rounds saw the range go while they accessed it\n", overlapped, kRounds);
    check_invariants(*machine, *space);
}

TEST(Race, MprotectRacingWritesKeepsEveryWriteThatSucceeded)
{
    // One thread writes the pages over and over while the other makes them read-only (and
    // pages them out) and writable again. A write succeeds or gets SEGV_ACCERR; what
    // succeeded is there after.
    auto machine = test::make_swapping_machine(1024, 16 * test::kMiB, false);
    auto space = test::make_space(*machine);
    ScopedProgramHandler handler;
    constexpr std::size_t kPages = 8;
    VirtAddr area = map_anon(*space, kPages * kPageSize);
    SpinBarrier barrier(2);
    const int kRounds = rounds(800);
    std::vector<std::uint32_t> expected(kPages, 0);
    std::atomic<int> wrong { 0 };
    std::atomic<bool> done { false };
    std::atomic<int> refused { 0 };
    std::uint32_t writes = 0;
    std::thread protector([&] {
        for (int round = 0; round < kRounds; ++round) {
            barrier.arrive_and_wait();
            spin_for(round);
            (void)space->mprotect(area, kPages * kPageSize, PROT_READ);
            // Every other round stays read-only until a write met it (or 10 ms went by): a
            // writer that faults waits for the mmap_lock, which the next mprotect may take first.
            int refused_before = refused.load(std::memory_order_acquire);
            auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(10);
            while (round % 2 == 1 && refused.load(std::memory_order_acquire) == refused_before
                && std::chrono::steady_clock::now() < until) {
            }
            if (round % 4 == 0)
                (void)space->madvise(area, kPages * kPageSize, MADV_PAGEOUT);
            (void)space->mprotect(area, kPages * kPageSize, PROT_READ | PROT_WRITE);
            done.store(true, std::memory_order_release);
            barrier.arrive_and_wait();
        }
    });
    for (int round = 0; round < kRounds; ++round) {
        done.store(false, std::memory_order_relaxed);
        barrier.arrive_and_wait();
        while (!done.load(std::memory_order_acquire)) {
            for (std::size_t page = 0; page < kPages; ++page) {
                int outcome = try_write(word_at(area, page, page), ++writes);
                if (outcome == 0)
                    expected[page] = writes;
                else if (outcome != SEGV_ACCERR)
                    wrong.fetch_add(1);
                else
                    refused.fetch_add(1, std::memory_order_release);
            }
        }
        barrier.arrive_and_wait();
        for (std::size_t page = 0; page < kPages; ++page)
            if (*word_at(area, page, page) != expected[page])
                wrong.fetch_add(1);
    }
    protector.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_GT(refused.load(), 0);
    std::printf("%d of %u writes met a read-only page\n", refused.load(), writes);
    check_invariants(*machine, *space);
}

TEST(Race, ForkRacingKswapdCopiesTheParentExactly)
{
    // Twice the frames are written: kswapd is reclaiming when the address space forks. The
    // child sees the parent's generation, and not the parent's later writes.
    auto machine = test::make_swapping_machine(512, 32 * test::kMiB, true);
    auto space = test::make_space(*machine);
    constexpr std::size_t kPages = 1024;
    VirtAddr area = map_anon(*space, kPages * kPageSize);
    const int kRounds = rounds(12);
    std::int64_t kswapd_steals = test::stat_of(*machine, VmStatItem::PgStealKswapd);
    for (int round = 0; round < kRounds; ++round) {
        std::uint32_t generation = static_cast<std::uint32_t>(round + 1);
        for (std::size_t page = 0; page < kPages; ++page)
            *word_at(area, page, page % 1024) = generation;
        auto child = space->fork();
        ASSERT_TRUE(child);
        // The child's VMAs are at the same offsets in its own reservation.
        VirtAddr child_area((*child)->reservation_start().get() + (area.get() - space->reservation_start().get()));
        for (std::size_t page = 0; page < kPages; page += 2)
            *word_at(area, page, page % 1024) = generation + 1000;
        for (std::size_t page = 0; page < kPages; ++page)
            ASSERT_EQ(*word_at(child_area, page, page % 1024), generation) << "round " << round << " page " << page;
        (*child)->verify_invariants();
        child->reset();
    }
    EXPECT_GT(test::stat_of(*machine, VmStatItem::PgStealKswapd), kswapd_steals);
    // And the process's fork(2), with kswapd running: the child reads every page. (Not under
    // ThreadSanitizer, which cannot follow a child that starts threads again.)
    const int kProcessForks = test::kThreadSanitizer ? 0 : std::max(2, kRounds / 4);
    for (int round = 0; round < kProcessForks; ++round) {
        std::uint32_t generation = static_cast<std::uint32_t>(5000 + round);
        for (std::size_t page = 0; page < kPages; ++page)
            *word_at(area, page, page % 1024) = generation;
        pid_t child = test::fork_with(*machine, [&] {
            for (std::size_t page = 0; page < kPages; ++page)
                if (*word_at(area, page, page % 1024) != generation)
                    return 1;
            return 0;
        });
        ASSERT_GT(child, 0);
        EXPECT_EQ(test::exit_status(child), 0) << "round " << round;
    }
    check_invariants(*machine, *space);
}

// A file of kBytes whose every word is its own offset.
class PatternFile {
public:
    static constexpr std::size_t kBytes = 16 * kPageSize;
    PatternFile()
    {
        char path[] = "/var/tmp/vmemu-race-XXXXXX";
        m_fd = mkstemp(path);
        EXPECT_GE(m_fd, 0);
        unlink(path);
        std::vector<std::uint32_t> words(kBytes / 4);
        for (std::size_t i = 0; i < words.size(); ++i)
            words[i] = static_cast<std::uint32_t>(i * 4);
        EXPECT_EQ(pwrite(m_fd, words.data(), kBytes, 0), static_cast<ssize_t>(kBytes));
    }
    ~PatternFile() { close(m_fd); }
    int fd() const { return m_fd; }
    static bool holds(VirtAddr buffer)
    {
        for (std::size_t i = 0; i < kBytes / 4; ++i)
            if (buffer.ptr<std::uint32_t>()[i] != i * 4)
                return false;
        return true;
    }

private:
    int m_fd { -1 };
};

// One thread read(2)s the file into buffer (pinning it first when pin is true) while the
// other pages the buffer out (or, with MADV_COLD, takes its accessed bits, which takes it out
// of the SIGSEGV view); the read must never fail.
void read_racing_pageout(Machine& machine, AddressSpace& space, bool pin, int advice = MADV_PAGEOUT)
{
    PatternFile file;
    VirtAddr buffer = map_anon(space, PatternFile::kBytes);
    SpinBarrier barrier(2);
    const int kRounds = rounds(1000);
    std::atomic<int> failed_reads { 0 };
    std::atomic<int> wrong { 0 };
    std::thread evicter([&] {
        for (int round = 0; round < kRounds; ++round) {
            barrier.arrive_and_wait();
            (void)space.madvise(buffer, PatternFile::kBytes, advice);
            barrier.arrive_and_wait();
        }
    });
    std::vector<PageFrame*> pins(PatternFile::kBytes / kPageSize);
    for (int round = 0; round < kRounds; ++round) {
        // The buffer's pages: dirty in frames, or never touched, or swapped out.
        if (round % 3 == 0)
            std::memset(buffer.ptr<char>(), 0xee, PatternFile::kBytes);
        else if (round % 3 == 1)
            (void)space.madvise(buffer, PatternFile::kBytes, MADV_DONTNEED);
        barrier.arrive_and_wait();
        std::size_t pinned = pin ? space.pin_user_pages(buffer, PatternFile::kBytes, true, pins.data()) : 0;
        ssize_t got = pread(file.fd(), buffer.ptr<char>(), PatternFile::kBytes, 0);
        if (pin)
            space.unpin_user_pages(pins.data(), pinned);
        if (got != static_cast<ssize_t>(PatternFile::kBytes))
            failed_reads.fetch_add(1);
        barrier.arrive_and_wait();
        if (!PatternFile::holds(buffer))
            wrong.fetch_add(1);
    }
    evicter.join();
    EXPECT_EQ(failed_reads.load(), 0) << "a read(2) into the buffer failed (EFAULT)";
    EXPECT_EQ(wrong.load(), 0);
    if (advice == MADV_PAGEOUT) {
        EXPECT_GT(test::stat_of(machine, VmStatItem::PswpOut), 0);
    }
    check_invariants(machine, space);
}

TEST(Race, ReadIntoABufferBeingPagedOutNeverSeesEfaultWithPins)
{
    // The SIGSEGV source: the kernel cannot wait for a fault, so the buffer is pinned first,
    // as vmemu's preload wrappers do around read(2).
    auto machine = test::make_swapping_machine(1024, 16 * test::kMiB, false);
    auto space = test::make_space(*machine);
    read_racing_pageout(*machine, *space, true);
}

TEST(Race, ReadIntoABufferLosingItsAccessedBitsNeverSeesEfaultWithPins)
{
    auto machine = test::make_swapping_machine(1024, 16 * test::kMiB, false);
    auto space = test::make_space(*machine);
    read_racing_pageout(*machine, *space, true, MADV_COLD);
}

TEST(Race, ReadIntoABufferBeingPagedOutNeverSeesEfaultWithUserfaultfd)
{
    // The userfaultfd source: the kernel's own access waits for vmemu, with no pin.
    MachineConfig config { .frames = 1024, .kswapd = false, .fault_source = FaultSourceKind::UserfaultThread };
    config.swap = SwapDeviceConfig { .bytes = 16 * test::kMiB };
    auto machine = Machine::create(config);
    if (!machine)
        GTEST_SKIP() << "userfaultfd with UFFDIO_MOVE is not available here";
    if ((*machine)->userfault()->user_mode_only())
        GTEST_SKIP() << "only UFFD_USER_MODE_ONLY here (run as root): the kernel's accesses fail with EFAULT";
    auto space = test::make_space(**machine);
    read_racing_pageout(**machine, *space, false);
}

TEST(Race, SwapCompletionsArrivingAfterMunmapFreeTheirPagesAndSlots)
{
    // Round by round: swap writes are in flight when the range is unmapped, or a fault's swap
    // readahead is in flight when it is. The completions find no PTE; they must free the
    // frames and slots, and touch nothing that went.
    auto machine = test::make_swapping_machine(1024, 16 * test::kMiB, false);
    auto space = test::make_space(*machine);
    ScopedProgramHandler handler;
    constexpr std::size_t kPages = 64;
    std::uint32_t free_slots = machine->swap()->device().slots().nr_free();
    SpinBarrier barrier(2);
    const int kRounds = rounds(600);
    std::atomic<int> wrong { 0 };
    {
        // Up to ten times the usual wait: a swap read comes before the readahead, and in a
        // slow build (AddressSanitizer) the usual wait always ended before it.
        Unmapper unmapper(*space, kPages * kPageSize, barrier, kRounds, 200000);
        VirtAddr where = unmapper.where();
        for (int round = 0; round < kRounds; ++round) {
            EXPECT_TRUE(unmapper.map()); // no ASSERT: the unmapper waits at the barrier
            for (std::size_t page = 0; page < kPages; ++page)
                *word_at(where, page, 3) = static_cast<std::uint32_t>(round);
            bool readahead = round % 2 == 1;
            if (readahead) {
                (void)space->madvise(where, kPages * kPageSize, MADV_PAGEOUT);
                machine->wait_for_swap_io();
                (void)machine->reclaim(machine->frame_count()); // and out of the swap cache
            }
            barrier.arrive_and_wait();
            if (readahead) {
                // Faults in order from the middle: the second starts readahead of the pages after.
                for (std::size_t page = kPages / 2; page < kPages / 2 + 3; ++page) {
                    volatile std::uint32_t seen = 0;
                    int outcome = try_read(word_at(where, page, 3), seen);
                    if (outcome != 0 ? outcome != SEGV_MAPERR : seen != static_cast<std::uint32_t>(round))
                        wrong.fetch_add(1);
                }
            } else {
                (void)space->madvise(where, kPages * kPageSize, MADV_PAGEOUT); // writes submitted, not awaited
            }
            barrier.arrive_and_wait();
        }
    }
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(test::stat_of(*machine, VmStatItem::NrAnonPages), 0);
    EXPECT_EQ(settled_free_slots(*machine), free_slots);
    EXPECT_GT(test::stat_of(*machine, VmStatItem::SwapRa), 0) << machine->vmstat();
    check_invariants(*machine, *space);
}

} // namespace
} // namespace vmemu
