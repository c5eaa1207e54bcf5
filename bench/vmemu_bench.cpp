// First-touch page faults on 64 MiB, three ways side by side in one run:
//   native     plain anonymous mmap: the kernel alone;
//   mechanism  the bare mechanism vmemu is built on: a SIGSEGV handler that maps one page of
//              a memfd at the faulting address and returns, with no bookkeeping at all;
//   uffd       the bare mechanism of a userfaultfd fault source: a thread that reads the fault
//              events and resolves each with UFFDIO_COPY of a zero page, no bookkeeping;
//   sigbus_copy, sigbus_move, sigbus_zeropage
//              the bare mechanisms of userfaultfd in SIGBUS mode: a SIGBUS handler in the
//              faulting thread resolves the missing page with UFFDIO_COPY of a zero page, with
//              UFFDIO_MOVE of the next page of a populated anonymous pool, or with
//              UFFDIO_ZEROPAGE (whose write then costs the kernel's own copy-on-write fault);
//   vmemu      a vmemu AddressSpace: VMAs, page tables, buddy allocator, counters;
//   vmemu_uffd the same on the userfaultfd fault source in SIGBUS mode.
// Reads of untouched memory (first_read_random), the zero page's mechanism included
// (sigbus_zeropage_protected: UFFDIO_ZEROPAGE, then UFFDIO_WRITEPROTECT of the page), and the
// first write of write-protected pages (first_write_protected_random): a SIGBUS handler that
// lifts the protection, or the kernel itself under UFFD_FEATURE_WP_ASYNC plus the PAGEMAP_SCAN
// that protects the written pages again.
// Each in random and in sequential page order. Times are per page (the ns_per_page counter).
// And fork(2) of a process that holds 16 MiB or 256 MiB of written memory, natively and on a
// Machine on each view (the SIGSEGV view's child copies the frames in use; the userfaultfd
// view's inherits the mapped pages copy-on-write), with a child that exits at once: the time
// from fork() to the end of waitpid().
#include <algorithm>
#include <benchmark/benchmark.h>
#include <chrono>
#include <csignal>
#include <cstring>
#include <string>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <linux/falloc.h>
#include <map>
#include <numeric>
#include <random>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <thread>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>
#include <vmemu/os/uffd_move.hpp>
#include <vmemu/vmemu.hpp>

namespace {

constexpr std::size_t kRegion = std::size_t { 64 } << 20;
constexpr std::size_t kPages = kRegion / vmemu::kPageSize;

enum class Order { Sequential, Random };

const std::vector<std::size_t>& page_order(Order order)
{
    static const std::vector<std::size_t> sequential = [] {
        std::vector<std::size_t> pages(kPages);
        std::iota(pages.begin(), pages.end(), 0);
        return pages;
    }();
    static const std::vector<std::size_t> random = [] {
        std::vector<std::size_t> pages = sequential;
        std::shuffle(pages.begin(), pages.end(), std::mt19937_64(2026));
        return pages;
    }();
    return order == Order::Sequential ? sequential : random;
}

// A write to each page, or a read of it (untouched memory: the zero page where there is one).
enum class Access { Write, Read };

void touch(char* base, Order order, Access access = Access::Write)
{
    if (access == Access::Read) {
        std::uint64_t sum = 0;
        for (std::size_t page : page_order(order))
            sum += reinterpret_cast<volatile char*>(base)[page * vmemu::kPageSize];
        benchmark::DoNotOptimize(sum);
        return;
    }
    for (std::size_t page : page_order(order))
        base[page * vmemu::kPageSize] = 1;
    benchmark::ClobberMemory();
}

void report_per_page(benchmark::State& state)
{
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kPages));
    state.counters["ns_per_page"] = benchmark::Counter(static_cast<double>(state.iterations() * kPages) / 1e9,
        benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void first_touch_native(benchmark::State& state, Order order, Access access = Access::Write)
{
    for (auto _ : state) {
        state.PauseTiming();
        void* region = mmap(nullptr, kRegion, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (region == MAP_FAILED) {
            state.SkipWithError("mmap failed");
            return;
        }
        // No transparent huge pages: every backend pays per 4 KiB page.
        madvise(region, kRegion, MADV_NOHUGEPAGE);
        state.ResumeTiming();
        touch(static_cast<char*>(region), order, access);
        state.PauseTiming();
        munmap(region, kRegion);
        state.ResumeTiming();
    }
    report_per_page(state);
}

// The bare mechanism: the handler maps the next unused memfd page at the faulting address.
struct Mechanism {
    int fd { -1 };
    char* base { nullptr };
    std::size_t next_page { 0 };
};
Mechanism g_mechanism;

void mechanism_handler(int, siginfo_t* info, void*)
{
    auto address = reinterpret_cast<std::uintptr_t>(info->si_addr) & vmemu::kPageMask;
    off_t offset = static_cast<off_t>(g_mechanism.next_page++ * vmemu::kPageSize);
    mmap(reinterpret_cast<void*>(address), vmemu::kPageSize, PROT_READ | PROT_WRITE,
        MAP_SHARED | MAP_FIXED | MAP_POPULATE, g_mechanism.fd, offset);
}

void first_touch_mechanism(benchmark::State& state, Order order)
{
    g_mechanism.fd = memfd_create("mechanism", MFD_CLOEXEC);
    if (g_mechanism.fd < 0 || ftruncate(g_mechanism.fd, static_cast<off_t>(kRegion)) != 0) {
        state.SkipWithError("memfd failed");
        return;
    }
    struct sigaction action {}, previous {};
    action.sa_sigaction = mechanism_handler;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &action, &previous);
    for (auto _ : state) {
        state.PauseTiming();
        void* region = mmap(nullptr, kRegion, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        g_mechanism.base = static_cast<char*>(region);
        g_mechanism.next_page = 0;
        // Fresh, zero pages for every round, as the kernel gives the native case.
        fallocate(g_mechanism.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(kRegion));
        state.ResumeTiming();
        touch(g_mechanism.base, order);
        state.PauseTiming();
        munmap(region, kRegion);
        state.ResumeTiming();
    }
    sigaction(SIGSEGV, &previous, nullptr);
    close(g_mechanism.fd);
    report_per_page(state);
}

// The bare userfaultfd mechanism: the region is registered for missing pages, and a thread
// reads the events and fills each page with UFFDIO_COPY of a zero page, which also wakes the
// faulting thread. UFFD_USER_MODE_ONLY, so that it runs unprivileged.
void first_touch_uffd(benchmark::State& state, Order order)
{
    int uffd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY));
    uffdio_api api { .api = UFFD_API, .features = 0, .ioctls = 0 };
    if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) != 0) {
        state.SkipWithError("userfaultfd is not available");
        return;
    }
    // The last fault of the run is on this page, and tells the thread to stop.
    void* stop_page = mmap(nullptr, vmemu::kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    auto register_range = [&](void* start, std::size_t bytes) {
        uffdio_register range {};
        range.range = { reinterpret_cast<std::uint64_t>(start), bytes };
        range.mode = UFFDIO_REGISTER_MODE_MISSING;
        return ioctl(uffd, UFFDIO_REGISTER, &range) == 0;
    };
    if (!register_range(stop_page, vmemu::kPageSize)) {
        state.SkipWithError("UFFDIO_REGISTER failed");
        return;
    }
    std::thread resolver([&] {
        alignas(4096) static char zero[vmemu::kPageSize];
        uffd_msg messages[32];
        for (;;) {
            ssize_t bytes = read(uffd, messages, sizeof messages);
            if (bytes <= 0)
                continue;
            for (std::size_t i = 0; i < static_cast<std::size_t>(bytes) / sizeof(uffd_msg); ++i) {
                std::uint64_t address = messages[i].arg.pagefault.address & ~std::uint64_t { vmemu::kPageSize - 1 };
                uffdio_copy copy { .dst = address, .src = reinterpret_cast<std::uint64_t>(zero),
                    .len = vmemu::kPageSize, .mode = 0, .copy = 0 };
                ioctl(uffd, UFFDIO_COPY, &copy);
                if (address == reinterpret_cast<std::uint64_t>(stop_page))
                    return;
            }
        }
    });
    for (auto _ : state) {
        state.PauseTiming();
        void* region = mmap(nullptr, kRegion, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        madvise(region, kRegion, MADV_NOHUGEPAGE);
        bool registered = register_range(region, kRegion);
        state.ResumeTiming();
        if (registered)
            touch(static_cast<char*>(region), order);
        state.PauseTiming();
        munmap(region, kRegion);
        state.ResumeTiming();
        if (!registered) {
            state.SkipWithError("UFFDIO_REGISTER failed");
            break;
        }
    }
    static_cast<volatile char*>(stop_page)[0] = 1;
    resolver.join();
    munmap(stop_page, vmemu::kPageSize);
    close(uffd);
    report_per_page(state);
}

// The bare mechanisms of userfaultfd in SIGBUS mode: the faulting thread's SIGBUS handler
// resolves the missing page itself, with no bookkeeping.
// Copy, Move, ZeroPage: a missing page. ZeroPageProtected: a missing page read, answered with
// the zero page write-protected (the userfaultfd view's read fault). Unprotect: a write to a
// write-protected page, answered by lifting the protection (its write fault on a clean page).
enum class Resolve { Copy, Move, ZeroPage, ZeroPageProtected, Unprotect };
struct SigbusMechanism {
    int uffd { -1 };
    Resolve resolve { Resolve::Copy };
    char* pool { nullptr }; // Resolve::Move: populated anonymous pages, taken in order
    std::size_t next_page { 0 };
};
SigbusMechanism g_sigbus;
alignas(4096) char g_zero_page[vmemu::kPageSize];

void sigbus_mechanism_handler(int, siginfo_t* info, void*)
{
    std::uint64_t address = reinterpret_cast<std::uintptr_t>(info->si_addr) & vmemu::kPageMask;
    switch (g_sigbus.resolve) {
    case Resolve::Copy: {
        uffdio_copy copy { .dst = address, .src = reinterpret_cast<std::uint64_t>(g_zero_page),
            .len = vmemu::kPageSize, .mode = UFFDIO_COPY_MODE_DONTWAKE, .copy = 0 };
        ioctl(g_sigbus.uffd, UFFDIO_COPY, &copy);
        break;
    }
    case Resolve::Move: {
        uffdio_move move { .dst = address,
            .src = reinterpret_cast<std::uint64_t>(g_sigbus.pool + g_sigbus.next_page++ * vmemu::kPageSize),
            .len = vmemu::kPageSize, .mode = UFFDIO_MOVE_MODE_DONTWAKE, .move = 0 };
        ioctl(g_sigbus.uffd, UFFDIO_MOVE, &move);
        break;
    }
    case Resolve::ZeroPage:
    case Resolve::ZeroPageProtected: {
        uffdio_zeropage zero { .range = { address, vmemu::kPageSize }, .mode = UFFDIO_ZEROPAGE_MODE_DONTWAKE,
            .zeropage = 0 };
        ioctl(g_sigbus.uffd, UFFDIO_ZEROPAGE, &zero);
        if (g_sigbus.resolve == Resolve::ZeroPageProtected) {
            uffdio_writeprotect protect { .range = { address, vmemu::kPageSize }, .mode = UFFDIO_WRITEPROTECT_MODE_WP };
            ioctl(g_sigbus.uffd, UFFDIO_WRITEPROTECT, &protect);
        }
        break;
    }
    case Resolve::Unprotect: {
        uffdio_writeprotect lift { .range = { address, vmemu::kPageSize }, .mode = UFFDIO_WRITEPROTECT_MODE_DONTWAKE };
        ioctl(g_sigbus.uffd, UFFDIO_WRITEPROTECT, &lift);
        break;
    }
    }
}

void first_touch_sigbus(benchmark::State& state, Order order, Resolve resolve, Access access = Access::Write)
{
    bool write_protect = resolve == Resolve::ZeroPageProtected || resolve == Resolve::Unprotect;
    int uffd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY));
    uffdio_api api { .api = UFFD_API,
        .features = UFFD_FEATURE_SIGBUS | UFFD_FEATURE_MOVE | (write_protect ? UFFD_FEATURE_PAGEFAULT_FLAG_WP : 0),
        .ioctls = 0 };
    if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) != 0) {
        state.SkipWithError("userfaultfd in SIGBUS mode with UFFDIO_MOVE is not available");
        return;
    }
    g_sigbus = SigbusMechanism { .uffd = uffd, .resolve = resolve };
    struct sigaction action {}, previous {};
    action.sa_sigaction = sigbus_mechanism_handler;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGBUS, &action, &previous);
    for (auto _ : state) {
        state.PauseTiming();
        void* region = mmap(nullptr, kRegion, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        madvise(region, kRegion, MADV_NOHUGEPAGE);
        uffdio_register range {};
        range.range = { reinterpret_cast<std::uint64_t>(region), kRegion };
        range.mode = UFFDIO_REGISTER_MODE_MISSING | (write_protect ? UFFDIO_REGISTER_MODE_WP : 0);
        bool registered = ioctl(uffd, UFFDIO_REGISTER, &range) == 0;
        if (registered && resolve == Resolve::Unprotect) {
            // Every page present and write-protected, as a clean page is (UFFDIO_COPY_MODE_WP).
            for (std::size_t page = 0; page < kPages; ++page) {
                uffdio_copy copy { .dst = reinterpret_cast<std::uint64_t>(region) + page * vmemu::kPageSize,
                    .src = reinterpret_cast<std::uint64_t>(g_zero_page), .len = vmemu::kPageSize,
                    .mode = UFFDIO_COPY_MODE_WP, .copy = 0 };
                ioctl(uffd, UFFDIO_COPY, &copy);
            }
        }
        void* pool = nullptr;
        if (resolve == Resolve::Move) {
            // The pages a real backend would move in are its frames: populated, outside the timing.
            pool = mmap(nullptr, kRegion, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            madvise(pool, kRegion, MADV_NOHUGEPAGE);
            std::memset(pool, 0, kRegion);
            g_sigbus.pool = static_cast<char*>(pool);
            g_sigbus.next_page = 0;
        }
        state.ResumeTiming();
        if (registered)
            touch(static_cast<char*>(region), order, access);
        state.PauseTiming();
        munmap(region, kRegion);
        if (pool)
            munmap(pool, kRegion);
        state.ResumeTiming();
        if (!registered) {
            state.SkipWithError("UFFDIO_REGISTER failed");
            break;
        }
    }
    sigaction(SIGBUS, &previous, nullptr);
    close(uffd);
    report_per_page(state);
}

// Asynchronous write protection (UFFD_FEATURE_WP_ASYNC, Linux 6.7), for kernel headers older
// than the kernel: the first write to a protected page is resolved by the kernel, and
// PAGEMAP_SCAN later finds the written pages and protects them again.
#ifndef PAGEMAP_SCAN
struct page_region {
    __u64 start;
    __u64 end;
    __u64 categories;
};
struct pm_scan_arg {
    __u64 size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted, category_mask,
        category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#define PAGE_IS_WRITTEN (1 << 1)
#endif
constexpr std::uint64_t kFeatureWpUnpopulated = 1 << 13;
constexpr std::uint64_t kFeatureWpAsync = 1 << 15;

void first_write_async_wp(benchmark::State& state, Order order)
{
    int uffd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY));
    uffdio_api api { .api = UFFD_API,
        .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP | kFeatureWpUnpopulated | kFeatureWpAsync, .ioctls = 0 };
    int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (uffd < 0 || pagemap < 0 || ioctl(uffd, UFFDIO_API, &api) != 0) {
        state.SkipWithError("userfaultfd with WP_ASYNC is not available");
        return;
    }
    std::vector<page_region> regions(kPages);
    double scan_ns = 0;
    for (auto _ : state) {
        state.PauseTiming();
        void* region = mmap(nullptr, kRegion, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        madvise(region, kRegion, MADV_NOHUGEPAGE);
        std::memset(region, 0, kRegion);
        uffdio_register range {};
        range.range = { reinterpret_cast<std::uint64_t>(region), kRegion };
        range.mode = UFFDIO_REGISTER_MODE_WP;
        uffdio_writeprotect protect { .range = range.range, .mode = UFFDIO_WRITEPROTECT_MODE_WP };
        bool registered = ioctl(uffd, UFFDIO_REGISTER, &range) == 0 && ioctl(uffd, UFFDIO_WRITEPROTECT, &protect) == 0;
        state.ResumeTiming();
        if (registered)
            touch(static_cast<char*>(region), order);
        state.PauseTiming();
        // The scan that learns of the writes and protects the pages again, timed apart.
        pm_scan_arg scan { .size = sizeof(pm_scan_arg), .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
            .start = range.range.start, .end = range.range.start + kRegion, .walk_end = 0,
            .vec = reinterpret_cast<std::uint64_t>(regions.data()), .vec_len = regions.size(), .max_pages = 0,
            .category_inverted = 0, .category_mask = PAGE_IS_WRITTEN, .category_anyof_mask = 0,
            .return_mask = PAGE_IS_WRITTEN };
        auto begin = std::chrono::steady_clock::now();
        long found = registered ? ioctl(pagemap, PAGEMAP_SCAN, &scan) : -1;
        scan_ns += static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::steady_clock::now() - begin).count());
        munmap(region, kRegion);
        state.ResumeTiming();
        if (found < 0) {
            state.SkipWithError("UFFDIO_REGISTER, UFFDIO_WRITEPROTECT or PAGEMAP_SCAN failed");
            break;
        }
    }
    close(pagemap);
    close(uffd);
    report_per_page(state);
    state.counters["scan_ns_per_page"] = scan_ns / static_cast<double>(state.iterations() * kPages);
}

void first_touch_vmemu(benchmark::State& state, Order order, vmemu::FaultSourceKind source,
    Access access = Access::Write)
{
    // Room for the region and its page tables.
    auto machine = vmemu::Machine::create({ .frames = kPages + 1024, .fault_source = source });
    if (!machine) {
        state.SkipWithError(machine.error().what());
        return;
    }
    auto space = (*machine)->create_address_space(std::size_t { 1 } << 30);
    if (!space) {
        state.SkipWithError(space.error().what());
        return;
    }
    std::int64_t faults = 0;
    double table_bytes_per_page = 0;
    double frames_per_page = 0;
    for (auto _ : state) {
        state.PauseTiming();
        auto region = (*space)->mmap(vmemu::VirtAddr(), kRegion, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        if (!region) {
            state.SkipWithError(region.error().what());
            return;
        }
        std::int64_t faults_before = (*machine)->stat().value(vmemu::VmStatItem::PgFault);
        std::size_t free_before = (*machine)->free_frames();
        state.ResumeTiming();
        touch(region->ptr<char>(), order, access);
        state.PauseTiming();
        faults += (*machine)->stat().value(vmemu::VmStatItem::PgFault) - faults_before;
        frames_per_page = static_cast<double>(free_before - (*machine)->free_frames()) / kPages;
        table_bytes_per_page = static_cast<double>((*machine)->stat().value(vmemu::VmStatItem::NrPageTablePages))
            * vmemu::kPageSize / kPages;
        (void)(*space)->munmap(*region, kRegion);
        state.ResumeTiming();
    }
    report_per_page(state);
    state.counters["faults_per_page"] = static_cast<double>(faults) / static_cast<double>(state.iterations() * kPages);
    state.counters["page_table_bytes_per_mapped_page"] = table_bytes_per_page;
    state.counters["frames_per_page"] = frames_per_page; // page tables included
    state.counters["mem_map_bytes_per_frame"] = sizeof(vmemu::PageFrame);
    state.counters["vma_bytes"] = sizeof(vmemu::Vma);
}

void fork_and_wait(benchmark::State& state)
{
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child)
        state.SkipWithError("fork failed");
}

void fork_native(benchmark::State& state, std::size_t bytes)
{
    void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    std::memset(memory, 1, bytes);
    for (auto _ : state)
        fork_and_wait(state);
    munmap(memory, bytes);
}

void fork_vmemu(benchmark::State& state, std::size_t bytes, vmemu::FaultSourceKind source)
{
    auto machine = vmemu::Machine::create({ .frames = 2 * bytes / vmemu::kPageSize, .fault_source = source });
    if (!machine) {
        state.SkipWithError(machine.error().what());
        return;
    }
    auto space = (*machine)->create_address_space(std::size_t { 1 } << 30);
    auto memory = (*space)->mmap(vmemu::VirtAddr(), bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    std::memset(memory->ptr<char>(), 1, bytes);
    for (auto _ : state) {
        (*machine)->prepare_fork();
        pid_t child = fork();
        if (child == 0) {
            (void)(*machine)->fork_child();
            _exit(0);
        }
        (*machine)->fork_parent();
        int status = 0;
        if (child < 0 || waitpid(child, &status, 0) != child)
            state.SkipWithError("fork failed");
    }
}

// fork_16MiB/... and fork_256MiB/...: native, vmemu (SIGSEGV view), vmemu_uffd.
const bool kForkBenchmarks = [] {
    for (std::size_t mib : { 16, 256 }) {
        std::string prefix = "fork_" + std::to_string(mib) + "MiB/";
        std::size_t bytes = mib << 20;
        benchmark::RegisterBenchmark((prefix + "native").c_str(), fork_native, bytes)->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark((prefix + "vmemu").c_str(), fork_vmemu, bytes, vmemu::FaultSourceKind::Signal)
            ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark((prefix + "vmemu_uffd").c_str(), fork_vmemu, bytes,
            vmemu::FaultSourceKind::Userfault)
            ->Unit(benchmark::kMicrosecond);
    }
    return true;
}();

BENCHMARK_CAPTURE(first_touch_native, random, Order::Random)->Name("first_touch_random/native");
BENCHMARK_CAPTURE(first_touch_mechanism, random, Order::Random)->Name("first_touch_random/mechanism");
BENCHMARK_CAPTURE(first_touch_uffd, random, Order::Random)->Name("first_touch_random/uffd");
BENCHMARK_CAPTURE(first_touch_sigbus, random_copy, Order::Random, Resolve::Copy)->Name("first_touch_random/sigbus_copy");
BENCHMARK_CAPTURE(first_touch_sigbus, random_move, Order::Random, Resolve::Move)->Name("first_touch_random/sigbus_move");
BENCHMARK_CAPTURE(first_touch_sigbus, random_zeropage, Order::Random, Resolve::ZeroPage)
    ->Name("first_touch_random/sigbus_zeropage");
BENCHMARK_CAPTURE(first_touch_vmemu, random, Order::Random, vmemu::FaultSourceKind::Signal)
    ->Name("first_touch_random/vmemu");
BENCHMARK_CAPTURE(first_touch_vmemu, random_uffd, Order::Random, vmemu::FaultSourceKind::Userfault)
    ->Name("first_touch_random/vmemu_uffd");
BENCHMARK_CAPTURE(first_touch_native, read, Order::Random, Access::Read)->Name("first_read_random/native");
BENCHMARK_CAPTURE(first_touch_sigbus, read_zeropage_protected, Order::Random, Resolve::ZeroPageProtected, Access::Read)
    ->Name("first_read_random/sigbus_zeropage_protected");
BENCHMARK_CAPTURE(first_touch_sigbus, unprotect, Order::Random, Resolve::Unprotect)
    ->Name("first_write_protected_random/sigbus_unprotect");
BENCHMARK_CAPTURE(first_write_async_wp, random, Order::Random)->Name("first_write_protected_random/async");
BENCHMARK_CAPTURE(first_touch_vmemu, read, Order::Random, vmemu::FaultSourceKind::Signal, Access::Read)
    ->Name("first_read_random/vmemu");
BENCHMARK_CAPTURE(first_touch_vmemu, read_uffd, Order::Random, vmemu::FaultSourceKind::Userfault, Access::Read)
    ->Name("first_read_random/vmemu_uffd");
BENCHMARK_CAPTURE(first_touch_native, sequential, Order::Sequential)->Name("first_touch_sequential/native");
BENCHMARK_CAPTURE(first_touch_mechanism, sequential, Order::Sequential)->Name("first_touch_sequential/mechanism");
BENCHMARK_CAPTURE(first_touch_vmemu, sequential, Order::Sequential, vmemu::FaultSourceKind::Signal)
    ->Name("first_touch_sequential/vmemu");
BENCHMARK_CAPTURE(first_touch_vmemu, sequential_uffd, Order::Sequential, vmemu::FaultSourceKind::Userfault)
    ->Name("first_touch_sequential/vmemu_uffd");

// The console output, followed by the ratios the targets are stated in.
class RatioReporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override
    {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& run : runs) {
            if (run.run_type == Run::RT_Aggregate && run.aggregate_name != "median")
                continue;
            auto counter = run.counters.find("ns_per_page");
            if (counter != run.counters.end())
                m_ns_per_page[run.run_name.function_name] = counter->second.value;
            else if (run.run_name.function_name.rfind("fork_", 0) == 0)
                m_fork_us[run.run_name.function_name] = run.GetAdjustedRealTime();
        }
    }

    void Finalize() override
    {
        ConsoleReporter::Finalize();
        auto ratio = [&](const char* a, const char* b, const char* target) {
            if (!m_ns_per_page.count(a) || !m_ns_per_page.count(b))
                return;
            std::printf("%-36s / %-34s = %5.3f  (%s)\n", a, b, m_ns_per_page[a] / m_ns_per_page[b], target);
        };
        std::printf("\nns per page:");
        for (const auto& [name, value] : m_ns_per_page)
            std::printf("\n  %-34s %8.0f", name.c_str(), value);
        std::printf("\n\nratios:\n");
        ratio("first_touch_random/vmemu", "first_touch_random/mechanism", "target <= 1.15");
        ratio("first_touch_sequential/vmemu", "first_touch_sequential/native", "target <= 1.0");
        ratio("first_touch_random/vmemu", "first_touch_random/native", "for reference");
        ratio("first_touch_random/uffd", "first_touch_random/mechanism", "for reference: userfaultfd / SIGSEGV");
        ratio("first_touch_random/vmemu_uffd", "first_touch_random/sigbus_move", "target <= 1.15");
        ratio("first_touch_random/vmemu_uffd", "first_touch_random/native", "target <= 3.0");
        ratio("first_touch_random/sigbus_copy", "first_touch_random/sigbus_move", "for reference");
        ratio("first_touch_random/sigbus_zeropage", "first_touch_random/sigbus_move", "for reference");
        ratio("first_touch_sequential/vmemu_uffd", "first_touch_sequential/native", "for reference");
        auto fork_ratio = [&](const std::string& a, const std::string& b, const char* target) {
            if (m_fork_us.count(a) && m_fork_us.count(b))
                std::printf("%-36s / %-34s = %5.3f  (%.0f us / %.0f us, %s)\n", a.c_str(), b.c_str(),
                    m_fork_us[a] / m_fork_us[b], m_fork_us[a], m_fork_us[b], target);
        };
        fork_ratio("fork_16MiB/vmemu", "fork_16MiB/native", "for reference");
        fork_ratio("fork_16MiB/vmemu_uffd", "fork_16MiB/native", "for reference");
        fork_ratio("fork_256MiB/vmemu", "fork_256MiB/native", "for reference");
        fork_ratio("fork_256MiB/vmemu_uffd", "fork_256MiB/native", "target <= 2.0");
        ratio("first_touch_sequential/mechanism", "first_touch_sequential/native", "for reference");
    }

private:
    std::map<std::string, double> m_ns_per_page;
    std::map<std::string, double> m_fork_us;
};

} // namespace

int main(int argc, char** argv)
{
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    RatioReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return 0;
}
