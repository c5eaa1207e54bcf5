// vmemu's own alternate signal stack (fault/signal_stack.hpp): faults are served whatever
// alternate stack the program installed, and the program's sigaltstack() calls behave as the
// kernel's.
#include <cerrno>
#include <csignal>
#include <cstring>
#include <pthread.h>
#include "test_support.hpp"

namespace vmemu {
namespace {

using test::map_anon;

stack_t query()
{
    stack_t current {};
    EXPECT_EQ(sigaltstack(nullptr, &current), 0);
    return current;
}

std::unique_ptr<Machine> make_swapping_machine()
{
    MachineConfig config { .frames = 1024, .kswapd = false };
    config.swap = SwapDeviceConfig { .bytes = 16 * test::kMiB };
    auto machine = Machine::create(config);
    EXPECT_TRUE(machine) << (machine ? "" : machine.error().what());
    return std::move(*machine);
}

// stress-ng's case: the program's alternate stack lies in emulated memory, and reclaim has
// taken it out of the kernel's view. A fault must still be served: the kernel writes the signal
// frame on vmemu's stack, not on the program's.
TEST(SignalStack, AProgramStackInSwappedOutMemoryDoesNotStopFaults)
{
    auto machine = make_swapping_machine();
    auto space = test::make_space(*machine);
    constexpr std::size_t kStackPages = 16;
    VirtAddr stack = map_anon(*space, kStackPages * kPageSize);
    VirtAddr data = map_anon(*space, 64 * kPageSize);
    std::memset(stack.ptr<char>(), 0, kStackPages * kPageSize);
    stack_t program { stack.ptr<char>(), 0, kStackPages * kPageSize };
    ASSERT_EQ(sigaltstack(&program, nullptr), 0);
    ASSERT_TRUE(space->madvise(stack, kStackPages * kPageSize, MADV_PAGEOUT));
    machine->wait_for_swap_io();
    ASSERT_EQ(space->rss_pages(), 0u);
    for (std::size_t page = 0; page < 64; ++page)
        data.ptr<char>()[page * kPageSize] = static_cast<char>(page + 1);
    for (std::size_t page = 0; page < 64; ++page)
        ASSERT_EQ(data.ptr<char>()[page * kPageSize], static_cast<char>(page + 1));
    // The program's stack was never written by the kernel: it is still out, and still zeros.
    EXPECT_EQ(query().ss_sp, stack.ptr<void>());
    stack_t off { nullptr, SS_DISABLE, 0 };
    ASSERT_EQ(sigaltstack(&off, nullptr), 0);
    EXPECT_EQ(space->rss_pages(), 64u);
}

// Rust's case: every thread installs an 8 KiB alternate stack with a guard page below it. The
// faults of the thread do not run on it.
TEST(SignalStack, ThreadsWithSmallStacksOfTheirOwnFaultOnVmemusStack)
{
    auto machine = test::make_machine(4096);
    auto space = test::make_space(*machine);
    VirtAddr data = map_anon(*space, 1024 * kPageSize);
    auto worker = [&](std::size_t first) {
        constexpr std::size_t kSmall = 8192;
        auto* mapping = static_cast<char*>(mmap(nullptr, kSmall + kPageSize, PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        ASSERT_NE(mapping, MAP_FAILED);
        ASSERT_EQ(mprotect(mapping, kPageSize, PROT_NONE), 0);
        // A new thread believes it has no alternate stack, as on Linux (AddressSanitizer
        // gives each thread one).
        if (!test::kAddressSanitizer) {
            EXPECT_EQ(query().ss_flags, SS_DISABLE);
        }
        stack_t small { mapping + kPageSize, 0, kSmall };
        ASSERT_EQ(sigaltstack(&small, nullptr), 0);
        for (std::size_t page = first; page < 1024; page += 2)
            data.ptr<std::uint64_t>()[page * kPageSize / 8] = page;
        // Not one byte of the small stack was written by a signal frame.
        for (std::size_t byte = 0; byte < kSmall; ++byte)
            ASSERT_EQ(mapping[kPageSize + byte], 0) << byte;
        stack_t off { nullptr, SS_DISABLE, 0 };
        EXPECT_EQ(sigaltstack(&off, nullptr), 0);
        munmap(mapping, kSmall + kPageSize);
    };
    std::thread a(worker, 0), b(worker, 1);
    a.join();
    b.join();
    for (std::size_t page = 0; page < 1024; ++page)
        ASSERT_EQ(data.ptr<std::uint64_t>()[page * kPageSize / 8], page);
}

TEST(SignalStack, SigaltstackKeepsWhatTheProgramSetAndRefusesWhatTheKernelRefuses)
{
    auto machine = test::make_machine(256);
    auto space = test::make_space(*machine);
    std::thread([] {
        static char stack_bytes[65536];
        if (!test::kAddressSanitizer) {
            EXPECT_EQ(query().ss_flags, SS_DISABLE);
        }
        stack_t mine { stack_bytes, 0, sizeof stack_bytes };
        ASSERT_EQ(sigaltstack(&mine, nullptr), 0);
        stack_t now = query();
        EXPECT_EQ(now.ss_sp, stack_bytes);
        EXPECT_EQ(now.ss_size, sizeof stack_bytes);
        EXPECT_EQ(now.ss_flags, 0);
        // The kernel's errors: flags it does not know, a stack below MINSIGSTKSZ, a bad pointer.
        stack_t bad_flags { stack_bytes, 0x40, sizeof stack_bytes };
        errno = 0;
        EXPECT_EQ(sigaltstack(&bad_flags, nullptr), -1);
        EXPECT_EQ(errno, EINVAL);
        stack_t tiny { stack_bytes, 0, 1024 };
        errno = 0;
        EXPECT_EQ(sigaltstack(&tiny, nullptr), -1);
        EXPECT_EQ(errno, ENOMEM);
        errno = 0;
        EXPECT_EQ(sigaltstack(reinterpret_cast<const stack_t*>(8), nullptr), -1);
        EXPECT_EQ(errno, EFAULT);
        errno = 0;
        EXPECT_EQ(sigaltstack(nullptr, reinterpret_cast<stack_t*>(8)), -1);
        EXPECT_EQ(errno, EFAULT);
        // What failed changed nothing; the old stack comes back as the kernel reports it.
        stack_t off { nullptr, SS_DISABLE, 0 };
        stack_t old {};
        ASSERT_EQ(sigaltstack(&off, &old), 0);
        EXPECT_EQ(old.ss_sp, stack_bytes);
        EXPECT_EQ(old.ss_flags, 0);
        EXPECT_EQ(query().ss_flags, SS_DISABLE);
    }).join();
}

} // namespace
} // namespace vmemu
