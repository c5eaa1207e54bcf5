#include <csetjmp>
#include <cstring>
#include <fstream>
#include <random>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>
#include <vmemu/os/memory.hpp>
#include <vmemu/os/signals.hpp>
#include "test_support.hpp"

namespace vmemu {
namespace {

using test::map_anon;

// These are the tests of the SIGSEGV view: its kernel mappings, its zero page, its handler.
// (userfault_test has the userfaultfd view's.)
std::unique_ptr<Machine> make_signal_machine(std::size_t frames, std::size_t max_kernel_mappings = 0)
{
    return test::make_machine(frames, max_kernel_mappings, FaultSourceKind::Signal);
}

// A program's own SIGSEGV handler: records what it got and jumps back to the test.
sigjmp_buf g_recover;
volatile sig_atomic_t g_si_code;
void* volatile g_si_addr;
volatile sig_atomic_t g_calls;

void program_handler(int, siginfo_t* info, void*)
{
    g_si_code = info->si_code;
    g_si_addr = info->si_addr;
    g_calls = g_calls + 1;
    siglongjmp(g_recover, 1);
}

struct ScopedProgramHandler : test::ScopedSegvHandler {
    ScopedProgramHandler()
        : ScopedSegvHandler(program_handler)
    {
        g_calls = 0;
    }
};

// Touches address and returns true if the program handler caught a SIGSEGV instead.
bool faults(volatile char* address, bool write)
{
    if (sigsetjmp(g_recover, 1) != 0)
        return true;
    if (write)
        *address = 1;
    else
        (void)*address;
    return false;
}

// The real kernel's mappings (lines of /proc/self/maps) inside [start, end).
std::int64_t count_kernel_mappings(VirtAddr start, VirtAddr end)
{
    std::ifstream maps("/proc/self/maps");
    std::string line;
    std::int64_t count = 0;
    while (std::getline(maps, line)) {
        unsigned long low = 0, high = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx", &low, &high) == 2 && low >= start.get() && high <= end.get())
            ++count;
    }
    return count;
}

TEST(Fault, ReadsSeeTheZeroPageAndWritesGetAFrame)
{
    auto machine = make_signal_machine(1024);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, 4 * kPageSize);
    volatile char* bytes = area.ptr<char>();
    bytes[0] = 1; // builds the page table
    std::size_t free_before = machine->free_frames();
    EXPECT_EQ(bytes[kPageSize + 10], 0);
    EXPECT_EQ(machine->stat().value(VmStatItem::NrZeroPageMappings), 1);
    EXPECT_EQ(machine->free_frames(), free_before); // a read costs no frame
    EXPECT_EQ(space->rss_pages(), 1u);
    bytes[kPageSize + 10] = 7;
    EXPECT_EQ(bytes[kPageSize + 10], 7);
    EXPECT_EQ(machine->stat().value(VmStatItem::NrZeroPageMappings), 0);
    EXPECT_EQ(machine->stat().value(VmStatItem::NrAnonPages), 2);
    EXPECT_EQ(space->rss_pages(), 2u);
    // The zero frames stay zero.
    for (std::size_t i = 0; i < FrameArena::kZeroFrames; ++i)
        EXPECT_EQ(machine->arena().direct_map(machine->arena().zero_pfn(i))[10], std::byte { 0 });
    space->verify_invariants();
}

TEST(Fault, ProgramHandlerGetsMapErrAndAccErrWithTheAddress)
{
    auto machine = make_signal_machine(1024);
    auto space = test::make_space(*machine);
    VirtAddr writable = map_anon(*space, 2 * kPageSize);
    VirtAddr read_only = map_anon(*space, 2 * kPageSize, PROT_READ);
    VirtAddr none = map_anon(*space, kPageSize, PROT_NONE);
    ScopedProgramHandler handler; // installed after vmemu's

    volatile char* outside = space->reservation_start().offset(123).ptr<char>();
    EXPECT_TRUE(faults(outside, false));
    EXPECT_EQ(g_si_code, SEGV_MAPERR);
    EXPECT_EQ(g_si_addr, (void*)outside);

    EXPECT_TRUE(faults(read_only.ptr<char>() + 5, true));
    EXPECT_EQ(g_si_code, SEGV_ACCERR);
    EXPECT_EQ(g_si_addr, (void*)(read_only.ptr<char>() + 5));
    EXPECT_FALSE(faults(read_only.ptr<char>() + 5, false)); // reading is allowed

    EXPECT_TRUE(faults(none.ptr<char>(), false));
    EXPECT_EQ(g_si_code, SEGV_ACCERR);

    EXPECT_FALSE(faults(writable.ptr<char>(), true));
    EXPECT_EQ(g_calls, 3);
    EXPECT_EQ(machine->stat().value(VmStatItem::SegvMapErr), 1);
    EXPECT_EQ(machine->stat().value(VmStatItem::SegvAccErr), 2);

    // Faults outside every reservation reach the program unchanged.
    void* own = mmap(nullptr, kPageSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_TRUE(faults(static_cast<char*>(own), false));
    EXPECT_EQ(g_si_code, SEGV_ACCERR);
    EXPECT_EQ(g_si_addr, own);
    munmap(own, kPageSize);
}

TEST(Fault, HandlerInstalledBeforeVmemuIsChained)
{
    ScopedProgramHandler handler; // no address space exists yet: this is a plain sigaction
    {
        auto machine = make_signal_machine(1024);
        auto space = test::make_space(*machine);
        VirtAddr area = map_anon(*space, kPageSize, PROT_READ);
        EXPECT_FALSE(faults(area.ptr<char>(), false));
        EXPECT_TRUE(faults(area.ptr<char>(), true));
        EXPECT_EQ(g_si_code, SEGV_ACCERR);
        EXPECT_EQ(g_calls, 1);
        // While vmemu is attached the program sees its own handler, not vmemu's.
        struct sigaction current {};
        ASSERT_EQ(sigaction(SIGSEGV, nullptr, &current), 0);
        EXPECT_EQ(current.sa_sigaction, &program_handler);
    }
    // With the last address space gone, the program's handler is installed for real again.
    struct sigaction current {};
    ASSERT_EQ(vmemu::os::real_sigaction(SIGSEGV, nullptr, &current), 0);
    EXPECT_EQ(current.sa_sigaction, &program_handler);
}

void die_by_wild_access(bool inside_reservation)
{
    struct rlimit no_core { 0, 0 };
    setrlimit(RLIMIT_CORE, &no_core);
    auto machine = make_signal_machine(1024);
    auto space = test::make_space(*machine);
    map_anon(*space, kPageSize);
    volatile char* wild = inside_reservation ? space->reservation_start().ptr<char>() : reinterpret_cast<char*>(16);
    asm volatile("" : "+r"(wild)); // hide the null-page address from the optimizer
    *wild = 1;
}

TEST(FaultDeathTest, WildAccessWithoutHandlerKillsBySigsegv)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(die_by_wild_access(true), ::testing::KilledBySignal(SIGSEGV), "");
    EXPECT_EXIT(die_by_wild_access(false), ::testing::KilledBySignal(SIGSEGV), "");
}

TEST(FaultDeathTest, WriteToReadOnlyMappingKillsBySigsegv)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    auto write_read_only = [] {
        struct rlimit no_core { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        auto machine = make_signal_machine(1024);
        auto space = test::make_space(*machine);
        VirtAddr area = map_anon(*space, kPageSize, PROT_READ);
        *area.ptr<volatile char>() = 1;
    };
    EXPECT_EXIT(write_read_only(), ::testing::KilledBySignal(SIGSEGV), "");
}

TEST(FaultDeathTest, OutOfMemoryWithoutSwapKillsWithAReport)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    auto exhaust = [] {
        auto machine = make_signal_machine(256);
        auto space = test::make_space(*machine);
        VirtAddr area = map_anon(*space, 512 * kPageSize);
        for (std::size_t i = 0; i < 512; ++i)
            area.ptr<volatile char>()[i * kPageSize] = 1;
    };
    EXPECT_EXIT(exhaust(), ::testing::KilledBySignal(SIGKILL),
        "vmemu: Out of memory: Killed process [0-9]+ \\(fault_test\\) at 0x[0-9a-f]+ anon-rss:[0-9]+kB, swap:0kB");
}

TEST(FaultDeathTest, KernelMappingLimitIsSigbusWithAReason)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    auto no_room = [] {
        // The reservation itself uses the only kernel mapping there is.
        auto machine = Machine::create({ .frames = 1024, .max_kernel_mappings = 1, .fault_source = FaultSourceKind::Signal });
        auto space = test::make_space(**machine);
        VirtAddr area = map_anon(*space, 256 * kPageSize);
        area.ptr<volatile char>()[0] = 1;
    };
    EXPECT_EXIT(no_room(), ::testing::KilledBySignal(SIGBUS), "kernel mapping limit \\(vm.max_map_count\\) reached");
}

TEST(FaultDeathTest, KernelRefusingEveryMappingIsSigbusWithAReason)
{
    // The kernel says ENOMEM (vm.max_map_count, reached by the program's own mappings) and
    // vmemu has no mapping of its own to give back: the fault cannot be served.
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    auto refused = [] {
        auto machine = make_signal_machine(1024);
        auto space = test::make_space(*machine);
        VirtAddr area = map_anon(*space, 16 * kPageSize);
        os::inject_map_errors(ENOMEM, 1u << 30);
        area.ptr<volatile char>()[0] = 1;
    };
    EXPECT_EXIT(refused(), ::testing::KilledBySignal(SIGBUS), "kernel mapping limit \\(vm.max_map_count\\) reached");
}

TEST(FaultDeathTest, KernelRefusingAMappingForAnotherReasonSaysWhyAndIsSigbus)
{
    // An error other than ENOMEM is nothing vmemu can make room for, nor a lack of memory:
    // the mmap call and its errno are said, then the fault's SIGBUS, not an OOM kill.
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    auto refused = [] {
        auto machine = make_signal_machine(1024);
        auto space = test::make_space(*machine);
        VirtAddr area = map_anon(*space, 16 * kPageSize);
        os::inject_map_errors(EACCES, 1);
        area.ptr<volatile char>()[0] = 1;
    };
    EXPECT_EXIT(refused(), ::testing::KilledBySignal(SIGBUS),
        "mmap of a frame at 0x[0-9a-f]+ failed: EACCES\n.*cannot resolve a fault at 0x[0-9a-f]+: the kernel refused "
        "to map the page");
}

TEST(Fault, KernelRefusingMappingsEvictsOursAndLosesNothing)
{
    // ENOMEM from the kernel's mmap, as when the program's own mappings take the process to
    // vm.max_map_count behind vmemu's budget: each refusal gives back one of vmemu's kernel
    // mappings and the fault maps again (up to 16 times for one fault). Every byte stays.
    auto machine = make_signal_machine(2048);
    auto space = test::make_space(*machine);
    constexpr std::size_t kPages = 512;
    VirtAddr area = map_anon(*space, kPages * kPageSize);
    ASSERT_TRUE(space->madvise(area, kPages * kPageSize, MADV_RANDOM));
    auto* bytes = area.ptr<volatile unsigned char>();
    // Every other page: a kernel mapping each.
    for (std::size_t page = 0; page < kPages; page += 2)
        bytes[page * kPageSize + 5] = static_cast<unsigned char>(page * 3 + 1);
    std::int64_t evicted = test::stat_of(*machine, VmStatItem::KernelMappingEvict);
    // 4 refusals before every 8th new page: 128 in all, at most 16 in a row for one fault.
    for (std::size_t page = 1; page < kPages; page += 2) {
        if (page % 16 == 1)
            os::inject_map_errors(ENOMEM, 4);
        bytes[page * kPageSize + 5] = static_cast<unsigned char>(page * 3 + 1);
    }
    os::inject_map_errors(0, 0);
    for (std::size_t page = 0; page < kPages; ++page)
        ASSERT_EQ(bytes[page * kPageSize + 5], static_cast<unsigned char>(page * 3 + 1)) << page;
    EXPECT_GE(test::stat_of(*machine, VmStatItem::KernelMappingEvict) - evicted, 128);
    EXPECT_EQ(test::stat_of(*machine, VmStatItem::PgFaultMapLimit), 0);
    space->verify_invariants();
}

TEST(Fault, MemfdThatCannotGrowFailsMachineCreation)
{
    // The frame arena's memfd is sized once, when the Machine is made, and never grows. When
    // the kernel refuses that size (here RLIMIT_FSIZE, with EFBIG as ftruncate(2) gives it),
    // Machine::create() says so and leaves nothing behind.
    pid_t child = fork();
    if (child == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit small { test::kMiB, test::kMiB };
        setrlimit(RLIMIT_FSIZE, &small);
        auto machine = Machine::create({ .frames = 1024, .fault_source = FaultSourceKind::Signal });
        _exit(!machine && machine.error().code() == EFBIG ? 0 : 1);
    }
    EXPECT_EQ(test::exit_status(child), 0);
}

TEST(Fault, ScatteredPagesBeyondTheKernelMappingBudgetKeepWorking)
{
    // 512 isolated pages would need 1025 kernel mappings; the budget is 64. The oldest small
    // runs leave the hardware view and come back with a minor fault when touched again.
    auto machine = make_signal_machine(2048, 64);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, 1024 * kPageSize, PROT_READ | PROT_WRITE);
    ASSERT_TRUE(space->madvise(area, 1024 * kPageSize, MADV_RANDOM));
    auto* bytes = area.ptr<volatile unsigned char>();
    for (int pass = 0; pass < 2; ++pass) {
        for (std::size_t page = 0; page < 1024; page += 2)
            bytes[page * kPageSize] = static_cast<unsigned char>(page / 2 + pass);
        for (std::size_t page = 0; page < 1024; page += 2)
            ASSERT_EQ(bytes[page * kPageSize], static_cast<unsigned char>(page / 2 + pass)) << page;
    }
    EXPECT_LE(machine->stat().value(VmStatItem::NrKernelMappings), 64);
    EXPECT_GT(machine->stat().value(VmStatItem::KernelMappingEvict), 900);
    EXPECT_EQ(machine->stat().value(VmStatItem::PgFaultMapLimit), 0);
    EXPECT_EQ(machine->stat().value(VmStatItem::NrAnonPages), 512);
    EXPECT_EQ(count_kernel_mappings(space->reservation_start(), space->reservation_end()),
        machine->stat().value(VmStatItem::NrKernelMappings));
    space->verify_invariants();
}

TEST(Fault, AHardwareViewThatLagsIsCaughtUpByTheRun)
{
    auto machine = make_signal_machine(1024);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, 64 * kPageSize);
    auto* bytes = area.ptr<volatile char>();
    for (std::size_t page = 0; page < 64; ++page)
        bytes[page * kPageSize] = 1;
    ASSERT_TRUE(space->mprotect(area, 64 * kPageSize, PROT_READ)); // drops the hardware view
    auto faults = machine->stat().value(VmStatItem::PgFault);
    for (std::size_t page = 0; page < 64; ++page)
        ASSERT_EQ(bytes[page * kPageSize], 1);
    // Fault-around gave the range contiguous frames, so one fault maps it all again.
    EXPECT_EQ(machine->stat().value(VmStatItem::PgFault) - faults, 1);
    space->verify_invariants();
}

TEST(Fault, KernelMappingLimitRefusesNewAddressSpaces)
{
    auto machine = Machine::create({ .frames = 1024, .max_kernel_mappings = 1, .fault_source = FaultSourceKind::Signal });
    ASSERT_TRUE(machine);
    auto first = (*machine)->create_address_space(4 * test::kMiB);
    ASSERT_TRUE(first);
    EXPECT_EQ(test::error_of((*machine)->create_address_space(4 * test::kMiB)), ENOMEM);
}

TEST(Fault, KernelMappingCountMatchesTheKernel)
{
    auto machine = make_signal_machine(4096);
    auto space = test::make_space(*machine);
    auto mappings = [&] { return machine->stat().value(VmStatItem::NrKernelMappings); };
    auto check = [&](const char* step) {
        EXPECT_EQ(count_kernel_mappings(space->reservation_start(), space->reservation_end()), mappings()) << step;
        space->verify_invariants();
    };
    VirtAddr area = map_anon(*space, 2048 * kPageSize);
    char* bytes = area.ptr<char>();
    for (std::size_t i = 0; i < 1024; ++i) // sequential: a few large mappings
        bytes[i * kPageSize] = 1;
    check("sequential");
    EXPECT_LT(mappings(), 8);
    std::mt19937 random(3);
    for (int i = 0; i < 200; ++i)
        bytes[(1024 + random() % 1024) * kPageSize] = 2;
    check("random");
    for (std::size_t i = 0; i < 64; ++i)
        (void)*(volatile char*)(bytes + (1024 + i) * kPageSize);
    check("zero page reads");
    ASSERT_TRUE(space->mprotect(area.page_offset(100), 50 * kPageSize, PROT_READ));
    check("mprotect");
    (void)*(volatile char*)(bytes + 120 * kPageSize);
    check("read after mprotect");
    ASSERT_TRUE(space->mprotect(area.page_offset(100), 50 * kPageSize, PROT_READ | PROT_WRITE));
    bytes[130 * kPageSize] = 3;
    check("write after mprotect");
    ASSERT_TRUE(space->madvise(area.page_offset(500), 10 * kPageSize, MADV_DONTNEED));
    check("madvise");
    ASSERT_TRUE(space->munmap(area.page_offset(1500), 3 * kPageSize));
    check("munmap");
    auto moved = space->mremap(area.page_offset(10), 5 * kPageSize, 20 * kPageSize, MREMAP_MAYMOVE);
    ASSERT_TRUE(moved);
    moved->ptr<char>()[0] = 4;
    check("mremap");
}

TEST(Fault, ThreadsFaultingTheSamePagesAtOnceAgree)
{
    constexpr unsigned kThreads = 4;
    constexpr std::size_t kPages = 64;
    constexpr int kRounds = 100;
    auto machine = make_signal_machine(8192);
    auto space = test::make_space(*machine);
    test::SpinBarrier barrier(kThreads);
    std::vector<VirtAddr> areas(kRounds);
    for (auto& area : areas)
        area = map_anon(*space, kPages * kPageSize);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int round = 0; round < kRounds; ++round) {
                volatile unsigned char* bytes = areas[round].ptr<unsigned char>();
                barrier.arrive_and_wait();
                // Half the threads read first (zero page), half write first (fresh frame),
                // all on the same pages at the same moment.
                for (std::size_t page = 0; page < kPages; ++page) {
                    std::size_t index = round % 2 ? page : kPages - 1 - page;
                    if (t % 2)
                        (void)bytes[index * kPageSize + t];
                    bytes[index * kPageSize + t] = static_cast<unsigned char>(t + 1);
                }
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    for (int round = 0; round < kRounds; ++round) {
        const unsigned char* bytes = areas[round].ptr<unsigned char>();
        for (std::size_t page = 0; page < kPages; ++page)
            for (unsigned t = 0; t < kThreads; ++t)
                ASSERT_EQ(bytes[page * kPageSize + t], t + 1) << "round " << round << " page " << page;
    }
    EXPECT_EQ(machine->stat().value(VmStatItem::NrAnonPages), static_cast<std::int64_t>(kRounds * kPages));
    EXPECT_EQ(machine->stat().value(VmStatItem::NrZeroPageMappings), 0);
    space->verify_invariants();
    machine->verify_invariants();
}

} // namespace
} // namespace vmemu

namespace vmemu {
namespace {

TEST(Fault, InstructionFetchesNeedExecPermission)
{
    auto machine = make_signal_machine(1024);
    auto space = test::make_space(*machine);
    VirtAddr code = map_anon(*space, kPageSize);
    code.ptr<unsigned char>()[0] = 0xc3; // ret
    auto function = code.ptr<void()>();
    ScopedProgramHandler handler;
    volatile bool faulted = true;
    if (sigsetjmp(g_recover, 1) == 0) {
        function(); // NX: the page is not executable
        faulted = false;
    }
    EXPECT_TRUE(faulted);
    EXPECT_EQ(g_si_code, SEGV_ACCERR);
    EXPECT_EQ(g_si_addr, code.ptr());
    // The JIT pattern: make it executable, keep it writable, and call it.
    ASSERT_TRUE(space->mprotect(code, kPageSize, PROT_READ | PROT_WRITE | PROT_EXEC));
    g_calls = 0;
    if (sigsetjmp(g_recover, 1) == 0)
        function();
    EXPECT_EQ(g_calls, 0);
}

TEST(FaultDeathTest, AsyncSignalHandlersMayTouchEmulatedMemoryDuringCalls)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    // A SIGALRM handler writes emulated memory while the thread it interrupts is inside
    // madvise(), holding vmemu's locks. Signals are held off there, so this must not hang.
    static volatile char* page;
    auto run = [] {
        alarm(30); // a hang ends the child with SIGALRM's default action
        auto machine = make_signal_machine(1024);
        auto space = test::make_space(*machine);
        VirtAddr area = map_anon(*space, kPageSize);
        page = area.ptr<volatile char>();
        struct sigaction action {};
        action.sa_handler = [](int) { page[0] = 1; };
        action.sa_flags = SA_RESTART;
        sigaction(SIGPROF, &action, nullptr);
        itimerval timer { { 0, 50 }, { 0, 50 } };
        setitimer(ITIMER_PROF, &timer, nullptr);
        for (int i = 0; i < 20000; ++i)
            (void)space->madvise(area, kPageSize, MADV_DONTNEED);
        itimerval off {};
        setitimer(ITIMER_PROF, &off, nullptr);
        std::exit(0);
    };
    EXPECT_EXIT(run(), ::testing::ExitedWithCode(0), "");
}

TEST(Fault, ChildOfForkDoesNotShareTheParentsFrames)
{
    auto machine = make_signal_machine(1024);
    auto space = test::make_space(*machine);
    VirtAddr area = map_anon(*space, 2 * kPageSize);
    area.ptr<char>()[0] = 'P';
    pid_t child = fork();
    if (child == 0) {
        struct rlimit no_core { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        area.ptr<volatile char>()[0] = 'C'; // not inherited: SIGSEGV
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) << status;
    EXPECT_EQ(area.ptr<char>()[0], 'P');
    area.ptr<char>()[kPageSize] = 'Q'; // the parent goes on faulting
    EXPECT_EQ(area.ptr<char>()[kPageSize], 'Q');
    space->verify_invariants();
}

TEST(Fault, SigactionWithABadPointerFaultsBeforeTakingLocks)
{
    auto machine = make_signal_machine(1024);
    auto space = test::make_space(*machine);
    pid_t child = fork();
    if (child == 0) {
        alarm(10);
        struct rlimit no_core { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        sigaction(SIGSEGV, reinterpret_cast<const struct sigaction*>(16), nullptr);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) << status; // as glibc: not a hang
}

} // namespace
} // namespace vmemu
