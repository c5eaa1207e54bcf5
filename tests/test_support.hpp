#pragma once
#include <atomic>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <memory>
#include <setjmp.h>
#include <string>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vmemu/os/memory.hpp>
#include <vmemu/trace/tracepoint.hpp>
#include <vmemu/vmemu.hpp>

namespace vmemu::test {

constexpr std::size_t kMiB = std::size_t { 1 } << 20;

// Whether this build runs under ThreadSanitizer, which cannot follow a fork() child that
// starts threads (as a Machine's child restarts kswapd and the swap completion thread).
#if defined(__SANITIZE_THREAD__)
constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif
#else
constexpr bool kThreadSanitizer = false;
#endif

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif

// A moment's pause in a spin loop.
inline void cpu_relax()
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// The suite runs on the fault source VMEMU_BACKEND names (FaultSourceKind::Auto); the tests of
// one view's own behaviour (the SIGSEGV view's kernel mappings, its zero page) name it.
inline std::unique_ptr<Machine> make_machine(std::size_t frames = 4096, std::size_t max_kernel_mappings = 0,
    FaultSourceKind source = FaultSourceKind::Auto)
{
    auto machine = Machine::create({ .frames = frames, .max_kernel_mappings = max_kernel_mappings, .fault_source = source });
    EXPECT_TRUE(machine.has_value()) << (machine ? "" : machine.error().what());
    return std::move(*machine);
}

inline std::unique_ptr<Machine> make_swapping_machine(std::size_t frames, std::size_t swap_bytes, bool kswapd = true)
{
    MachineConfig config { .frames = frames, .kswapd = kswapd };
    config.swap = SwapDeviceConfig { .bytes = swap_bytes };
    auto machine = Machine::create(config);
    EXPECT_TRUE(machine.has_value()) << (machine ? "" : machine.error().what());
    return std::move(*machine);
}

inline std::int64_t stat_of(const Machine& machine, VmStatItem item) { return machine.stat().value(item); }

// What the tracepoints recorded, in ftrace's text format.
inline std::string ftrace_text()
{
    char* buffer = nullptr;
    std::size_t size = 0;
    std::FILE* out = open_memstream(&buffer, &size);
    trace::write_ftrace(out);
    std::fclose(out);
    std::string text(buffer, size);
    std::free(buffer);
    return text;
}

// Forks with the machine's handlers around fork(), as pthread_atfork() would call them, and
// runs child_body in the child, whose result is its exit status (100 when the child could
// not adopt its copy of the machine).
template<typename Body>
pid_t fork_with(Machine& machine, Body child_body)
{
    machine.prepare_fork();
    pid_t child = fork();
    if (child == 0) {
        auto adopted = machine.fork_child();
        _exit(adopted ? child_body() : 100);
    }
    machine.fork_parent();
    return child;
}

// The exit status of child, or 200 + the signal that killed it; -1 when it cannot be waited for.
inline int exit_status(pid_t child)
{
    int status = 0;
    if (waitpid(child, &status, 0) != child)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

inline std::unique_ptr<AddressSpace> make_space(Machine& machine, std::size_t bytes = std::size_t { 1 } << 30)
{
    auto space = machine.create_address_space(bytes);
    EXPECT_TRUE(space.has_value()) << (space ? "" : space.error().what());
    return std::move(*space);
}

inline VirtAddr map_anon(AddressSpace& space, std::size_t bytes, int prot = PROT_READ | PROT_WRITE, int extra = 0)
{
    auto address = space.mmap(VirtAddr(), bytes, prot, MAP_PRIVATE | MAP_ANONYMOUS | extra);
    EXPECT_TRUE(address.has_value()) << (address ? "" : address.error().what());
    return address.value_or(VirtAddr());
}

template<typename T>
int error_of(const VmResult<T>& result)
{
    return result.has_value() ? 0 : result.error().code();
}

// text without AddressSanitizer's warning that a handler left vmemu's alternate signal stack
// with siglongjmp() (a stack switch it cannot follow; it says so and goes on).
inline std::string without_sanitizer_stack_notes(std::string text)
{
    const std::string start = "==";
    const std::string end = "issues/189\n";
    for (std::size_t at; (at = text.find(start)) != std::string::npos;) {
        std::size_t stop = text.find(end, at);
        if (stop == std::string::npos || text.find("__asan_handle_no_return", at) > stop)
            break;
        text.erase(at, stop + end.size() - at);
    }
    return text;
}

// A program's own handler of signal for the life of the object. For SIGSEGV, vmemu's handler
// stays first and chains to it for faults that are the program's.
class ScopedSignalHandler {
public:
    ScopedSignalHandler(int signal, void (*handler)(int, siginfo_t*, void*))
        : m_signal(signal)
    {
        struct sigaction action {};
        action.sa_sigaction = handler;
        action.sa_flags = SA_SIGINFO;
        sigemptyset(&action.sa_mask);
        EXPECT_EQ(sigaction(signal, &action, &m_previous), 0);
    }
    ~ScopedSignalHandler() { sigaction(m_signal, &m_previous, nullptr); }
    ScopedSignalHandler(const ScopedSignalHandler&) = delete;
    ScopedSignalHandler& operator=(const ScopedSignalHandler&) = delete;

private:
    int m_signal;
    struct sigaction m_previous {};
};

struct ScopedSegvHandler : ScopedSignalHandler {
    explicit ScopedSegvHandler(void (*handler)(int, siginfo_t*, void*))
        : ScopedSignalHandler(SIGSEGV, handler)
    {
    }
};

// A SIGBUS handler (on_sigbus) that records the signal's si_code and address and jumps back
// to g_bus_recover; sigbus_at() touches an address under it.
inline sigjmp_buf g_bus_recover;
inline volatile int g_bus_code;
inline void* volatile g_bus_address;

inline void on_sigbus(int, siginfo_t* info, void*)
{
    g_bus_code = info->si_code;
    g_bus_address = info->si_addr;
    siglongjmp(g_bus_recover, 1);
}

// Whether touching at faults with SIGBUS; its si_code and address are in g_bus_*.
inline bool sigbus_at(volatile std::uint8_t* at, bool write)
{
    g_bus_code = 0;
    g_bus_address = nullptr;
    if (sigsetjmp(g_bus_recover, 1) != 0)
        return true;
    if (write)
        *at = 1;
    else
        (void)*at;
    return false;
}

// Runs body in a forked child, which has one thread, and returns its exit status (body's
// result). A kernel comparison that leaves a hole in a real mapping belongs there: in the
// test's own process another thread (kswapd, the swap completion thread, the sanitizer's
// allocator) may map a page into the hole before the call that is meant to find it.
template<typename Body>
int in_one_thread_child(Body body)
{
    pid_t child = fork();
    if (child == 0)
        _exit(body());
    return exit_status(child);
}

// Runs body in a child without CAP_IPC_LOCK and with RLIMIT_MEMLOCK at limit bytes: its exit
// status is body's. (The child cannot touch the parent's emulated memory; the calls tried
// fail before they would.)
template<typename Body>
int without_ipc_lock(std::size_t limit, Body body)
{
    pid_t child = fork();
    if (child == 0) {
        __user_cap_header_struct header { _LINUX_CAPABILITY_VERSION_3, 0 };
        __user_cap_data_struct data[2] {};
        syscall(SYS_capget, &header, data);
        data[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
        syscall(SYS_capset, &header, data);
        struct rlimit memlock { limit, limit };
        if (os::can_lock_without_limit() || setrlimit(RLIMIT_MEMLOCK, &memlock) != 0)
            _exit(99);
        _exit(body());
    }
    return exit_status(child);
}

// Lines threads up so that they start the next step at the same moment.
class SpinBarrier {
public:
    explicit SpinBarrier(unsigned parties)
        : m_parties(parties)
    {
    }
    void arrive_and_wait()
    {
        unsigned generation = m_generation.load(std::memory_order_acquire);
        if (m_waiting.fetch_add(1, std::memory_order_acq_rel) + 1 == m_parties) {
            m_waiting.store(0, std::memory_order_relaxed);
            m_generation.fetch_add(1, std::memory_order_acq_rel);
            return;
        }
        // Spin first, up to a millisecond: a yield can hand the core to another process for
        // a whole time slice, and the racing threads would not start together. Then yield, for
        // the thread that has work to do before it arrives may be sharing this core.
        auto spin_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
        for (unsigned spins = 1; m_generation.load(std::memory_order_acquire) == generation; ++spins) {
            if (spins % 64 != 0 || std::chrono::steady_clock::now() < spin_until)
                cpu_relax();
            else
                std::this_thread::yield();
        }
    }

private:
    unsigned m_parties;
    std::atomic<unsigned> m_waiting { 0 };
    std::atomic<unsigned> m_generation { 0 };
};

} // namespace vmemu::test
