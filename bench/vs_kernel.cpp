// vs_kernel: the same workloads three ways in one run, side by side:
//   1. vmemu with F frames and a private swap file;
//   2. the kernel, in a memory cgroup (v1) limited to F, with a swap file of the same size on
//      the same disk (set up and removed by this harness; needs root);
//   3. the kernel with no limit, the floor;
//   4. the bare mechanism vmemu is built on, as a floor for any design of its kind: a SIGSEGV
//      handler that, on each fault, takes the next frame in FIFO order, unmaps its page and
//      queues its write, reads the faulting page into it with io_uring (O_DIRECT) and maps it,
//      with no bookkeeping at all. Its writes race with its reads, so its data is not checked.
//      It runs twice: with the writes, and with writes that cost nothing (never issued), the
//      lowest any design of this kind can go.
// Workloads, over a working set of 4 x F in 4 KiB pages: random reads and writes (each access
// checks the page's signature and writes a new one half of the time), and sequential scans.
//
// --backend uffd runs vmemu with the userfaultfd fault source instead of the SIGSEGV one.
//
//   vs_kernel [--frames SIZE] [--accesses N] [--passes N] [--swap-dir DIR] [--backend signal|uffd]
#include <chrono>
#include <csignal>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <random>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>
#include "kernel_limit.hpp"
#include <vmemu/os/io_ring.hpp>
#include <vmemu/swap/swap_header.hpp>
#include <vmemu/vmemu.hpp>

namespace {

constexpr std::size_t kPage = 4096;

struct Settings {
    std::size_t frames_bytes { std::size_t { 64 } << 20 };
    std::size_t accesses { 200000 };
    unsigned passes { 2 };
    std::string swap_dir { "/var/tmp" };
    vmemu::FaultSourceKind fault_source { vmemu::FaultSourceKind::Signal };
};

struct Result {
    double random_seconds { 0 };
    double scan_seconds { 0 };
    long wrong { -1 };
    long memory_kb { 0 }; // vmemu: what the machine holds in memory (see under_vmemu())
};

std::uint32_t signature(std::size_t page, std::uint32_t generation)
{
    return static_cast<std::uint32_t>(page * 2654435761u) ^ (generation * 97u);
}

long status_kb(const char* field)
{
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind(field, 0) == 0)
            return std::atol(line.c_str() + std::strlen(field));
    }
    return 0;
}

// Pages of a file in the page cache (mincore over a mapping of it).
long cached_kb(int fd)
{
    struct stat status {};
    if (fstat(fd, &status) != 0 || status.st_size == 0)
        return 0;
    auto bytes = static_cast<std::size_t>(status.st_size);
    void* map = mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        return 0;
    std::vector<unsigned char> resident((bytes + kPage - 1) / kPage);
    long pages = 0;
    if (mincore(map, bytes, resident.data()) == 0) {
        for (unsigned char bit : resident)
            pages += bit & 1;
    }
    munmap(map, bytes);
    return pages * static_cast<long>(kPage / 1024);
}

// The workloads, on any memory. Each page's first word carries its signature.
Result run_workloads(char* base, std::size_t pages, const Settings& settings)
{
    Result result;
    result.wrong = 0;
    std::vector<std::uint32_t> generation(pages, 1);
    auto word = [&](std::size_t page) { return reinterpret_cast<volatile std::uint32_t*>(base + page * kPage); };
    for (std::size_t page = 0; page < pages; ++page)
        *word(page) = signature(page, 1);

    std::mt19937_64 random(42);
    auto started = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < settings.accesses; ++i) {
        std::size_t page = random() % pages;
        result.wrong += *word(page) != signature(page, generation[page]);
        if (random() & 1)
            *word(page) = signature(page, ++generation[page]);
    }
    result.random_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    started = std::chrono::steady_clock::now();
    for (unsigned pass = 0; pass < settings.passes; ++pass) {
        for (std::size_t page = 0; page < pages; ++page) {
            result.wrong += *word(page) != signature(page, generation[page]);
            *word(page) = signature(page, ++generation[page]);
        }
    }
    result.scan_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return result;
}

// Runs body in a child process and hands back its Result.
template<typename Body>
Result in_child(Body body)
{
    std::fflush(stdout); // or the child would print the parent's buffered lines again
    auto* shared = static_cast<Result*>(
        mmap(nullptr, sizeof(Result), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    *shared = Result {};
    pid_t child = fork();
    if (child == 0) {
        *shared = body();
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    Result result = *shared;
    munmap(shared, sizeof(Result));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        result.wrong = -1;
    return result;
}

Result native(const Settings& settings, std::size_t pages)
{
    void* region = mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED)
        return {};
    madvise(region, pages * kPage, MADV_NOHUGEPAGE);
    Result result = run_workloads(static_cast<char*>(region), pages, settings);
    munmap(region, pages * kPage);
    return result;
}

Result under_vmemu(const Settings& settings, std::size_t pages)
{
    vmemu::MachineConfig config { .frames = settings.frames_bytes / kPage, .fault_source = settings.fault_source };
    vmemu::SwapDeviceConfig swap;
    swap.bytes = settings.frames_bytes + pages * kPage;
    config.swap = swap;
    setenv("TMPDIR", settings.swap_dir.c_str(), 1);
    long baseline_kb = status_kb("RssAnon:");
    auto machine = vmemu::Machine::create(config);
    if (!machine) {
        std::fprintf(stderr, "vs_kernel: vmemu: %s\n", machine.error().what());
        return {};
    }
    auto space = (*machine)->create_address_space(std::size_t { 64 } << 30);
    auto region = (*space)->mmap(vmemu::VirtAddr(), pages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    Result result = run_workloads(region->ptr<char>(), pages, settings);
    // What vmemu holds: the frames the memfd has allocated (each counted once, though the
    // direct map and the emulated addresses both map them, which VmRSS counts twice), the
    // anonymous memory it added (mem_map, swap tables), and the swap file's page cache, which
    // O_DIRECT keeps empty. The workload's own bookkeeping (4 bytes a page) is in the anonymous
    // part too.
    struct stat arena {};
    fstat((*machine)->arena().fd(), &arena);
    long frames_kb = static_cast<long>(arena.st_blocks * 512 / 1024);
    long anon_kb = status_kb("RssAnon:") - baseline_kb;
    long swap_cache_kb = 0;
    for (int fd = 3; fd < 1024; ++fd) {
        char link[64], target[512];
        std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t length = readlink(link, target, sizeof target - 1);
        if (length > 0 && std::string(target, static_cast<std::size_t>(length)).find(settings.swap_dir) == 0) {
            swap_cache_kb = cached_kb(fd);
            break;
        }
    }
    result.memory_kb = frames_kb + anon_kb + swap_cache_kb;
    std::printf("vmemu memory: frames %ld kB + anonymous %ld kB + swap file page cache %ld kB\n", frames_kb, anon_kb,
        swap_cache_kb);
    std::fflush(stdout);
    return result;
}

// The bare mechanism (see the top of the file). Globals, for the signal handler.
struct Mechanism {
    char* base { nullptr };
    std::size_t pages { 0 };
    std::size_t frames { 0 };
    int memfd { -1 };
    int swap_fd { -1 };
    char* direct_map { nullptr };
    std::vector<std::int64_t> owner; // page held by each frame, or -1
    std::size_t clock { 0 };
    bool write_back { true };
    std::unique_ptr<vmemu::os::IoRing> ring;
};
Mechanism g_mechanism;

void mechanism_fault(int, siginfo_t* info, void*)
{
    Mechanism& m = g_mechanism;
    auto page = static_cast<std::size_t>(static_cast<char*>(info->si_addr) - m.base) / kPage;
    std::size_t frame = m.clock++ % m.frames;
    char* frame_memory = m.direct_map + frame * kPage;
    if (m.owner[frame] >= 0) {
        auto victim = static_cast<std::size_t>(m.owner[frame]);
        mmap(m.base + victim * kPage, kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
        if (m.write_back)
            m.ring->queue_write(m.swap_fd, frame_memory, kPage, victim * kPage, 1);
    }
    m.ring->queue_read(m.swap_fd, frame_memory, kPage, page * kPage, 2);
    m.ring->submit_and_wait(1);
    for (bool read_done = false; !read_done;) {
        vmemu::os::IoRing::Completion done[4];
        int count = m.ring->wait_completions(done, 4);
        for (int i = 0; i < count; ++i)
            read_done |= done[i].user_data == 2;
    }
    mmap(m.base + page * kPage, kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_POPULATE, m.memfd,
        static_cast<off_t>(frame * kPage));
    m.owner[frame] = static_cast<std::int64_t>(page);
}

Result mechanism(const Settings& settings, std::size_t pages, bool write_back)
{
    Mechanism& m = g_mechanism;
    m.write_back = write_back;
    m.pages = pages;
    m.frames = settings.frames_bytes / kPage;
    m.memfd = memfd_create("vs_kernel-mechanism", MFD_CLOEXEC);
    std::string swap_path = settings.swap_dir + "/vs_kernel-mechanism-" + std::to_string(getpid());
    m.swap_fd = open(swap_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_DIRECT | O_CLOEXEC, 0600);
    unlink(swap_path.c_str());
    auto ring = vmemu::os::IoRing::create(64);
    if (m.memfd < 0 || m.swap_fd < 0 || !ring || ftruncate(m.memfd, static_cast<off_t>(m.frames * kPage)) != 0
        || posix_fallocate(m.swap_fd, 0, static_cast<off_t>(pages * kPage)) != 0) {
        std::fprintf(stderr, "vs_kernel: mechanism: setting up failed\n");
        return {};
    }
    m.ring = std::move(*ring);
    // Written through, so that reads go to the disk as vmemu's and the kernel's do (reads of
    // fallocated but never written blocks cost no I/O).
    void* chunk = mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (std::size_t offset = 0; offset < pages * kPage; offset += 1 << 20)
        (void)!pwrite(m.swap_fd, chunk, 1 << 20, static_cast<off_t>(offset));
    munmap(chunk, 1 << 20);
    m.direct_map = static_cast<char*>(
        mmap(nullptr, m.frames * kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, m.memfd, 0));
    m.base = static_cast<char*>(
        mmap(nullptr, pages * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    m.owner.assign(m.frames, -1);
    struct sigaction action {};
    action.sa_sigaction = mechanism_fault;
    action.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &action, nullptr);
    Result result = run_workloads(m.base, pages, settings);
    result.wrong = 0; // not checked: the mechanism's writes race with its reads
    return result;
}

std::size_t size_option(const char* text)
{
    auto value = vmemu::parse_size(text);
    if (!value || *value == 0) {
        std::fprintf(stderr, "vs_kernel: malformed size '%s'\n", text);
        std::exit(2);
    }
    return *value;
}

} // namespace

int main(int argc, char** argv)
{
    Settings settings;
    for (int i = 1; i < argc; ++i) {
        std::string option = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "vs_kernel: %s needs a value\n", option.c_str());
            return 2;
        }
        const char* value = argv[++i];
        if (option == "--frames")
            settings.frames_bytes = size_option(value);
        else if (option == "--accesses")
            settings.accesses = size_option(value);
        else if (option == "--passes")
            settings.passes = static_cast<unsigned>(size_option(value));
        else if (option == "--swap-dir")
            settings.swap_dir = value;
        else if (option == "--backend" && (std::strcmp(value, "signal") == 0 || std::strcmp(value, "uffd") == 0))
            settings.fault_source = std::strcmp(value, "uffd") == 0 ? vmemu::FaultSourceKind::Userfault
                                                                     : vmemu::FaultSourceKind::Signal;
        else {
            std::fprintf(stderr, "vs_kernel: unknown option %s\n", option.c_str());
            return 2;
        }
    }
    std::size_t pages = 4 * settings.frames_bytes / kPage;
    std::printf("vs_kernel: working set %zu MiB (4 x F), F = %zu MiB, %zu random accesses, %u scan passes, swap in %s\n",
        pages * kPage >> 20, settings.frames_bytes >> 20, settings.accesses, settings.passes, settings.swap_dir.c_str());

    Result vmemu_result = in_child([&] { return under_vmemu(settings, pages); });
    // vmemu's metadata: mem_map (page tables live in the frames), the swap_map, the swap cache
    // table, and the workload's generation table, all computed as the child allocated them.
    std::size_t swap_slots = (settings.frames_bytes + pages * kPage) / kPage;
    auto metadata_kb = static_cast<long>((settings.frames_bytes / kPage * sizeof(vmemu::PageFrame) + swap_slots * (1 + 8 + 4)
                                        + pages * 4) / 1024);

    Result limited;
    bool have_limited = false;
    if (geteuid() != 0) {
        std::printf("vs_kernel: the kernel-with-limit run needs root (swapon and a memory cgroup): skipped\n");
    } else {
        KernelLimit limit(settings.swap_dir, settings.frames_bytes, settings.frames_bytes + pages * kPage + kPage);
        if (!limit.ready()) {
            std::printf("vs_kernel: cannot set up the kernel-with-limit run: %s: skipped\n", limit.error().c_str());
        } else {
            limited = in_child([&] {
                if (!limit.enter())
                    _exit(3);
                return native(settings, pages);
            });
            have_limited = limited.wrong == 0;
        }
    }
    Result floor = in_child([&] { return native(settings, pages); });
    Result bare = in_child([&] { return mechanism(settings, pages, true); });
    Result bare_reads = in_child([&] { return mechanism(settings, pages, false); });

    auto us_per_access = [&](const Result& r) { return r.random_seconds * 1e6 / static_cast<double>(settings.accesses); };
    auto scan_mib_s = [&](const Result& r) {
        return static_cast<double>(settings.passes * pages * kPage) / (1 << 20) / r.scan_seconds;
    };
    std::printf("\n%-26s %14s %16s %8s\n", "system", "random us/acc", "scan MiB/s", "errors");
    std::printf("%-26s %14.2f %16.1f %8ld\n", "vmemu, F frames", us_per_access(vmemu_result), scan_mib_s(vmemu_result),
        vmemu_result.wrong);
    if (have_limited)
        std::printf("%-26s %14.2f %16.1f %8ld\n", "kernel, cgroup limit F", us_per_access(limited), scan_mib_s(limited),
            limited.wrong);
    std::printf("%-26s %14.2f %16.1f %8ld\n", "kernel, no limit", us_per_access(floor), scan_mib_s(floor), floor.wrong);
    std::printf("%-26s %14.2f %16.1f %8s\n", "mechanism, F frames", us_per_access(bare), scan_mib_s(bare), "-");
    std::printf("%-26s %14.2f %16.1f %8s\n", "mechanism, free writes", us_per_access(bare_reads), scan_mib_s(bare_reads),
        "-");
    std::printf("\nratios:\n");
    if (have_limited) {
        std::printf("  random, vmemu / kernel-with-limit (time per access)  = %5.3f  (target <= 1.15)\n",
            us_per_access(vmemu_result) / us_per_access(limited));
        std::printf("  scan, vmemu / kernel-with-limit (throughput)         = %5.3f  (target >= 1.5)\n",
            scan_mib_s(vmemu_result) / scan_mib_s(limited));
    }
    std::printf("  random, vmemu / kernel-no-limit (time per access)    = %5.3f\n",
        us_per_access(vmemu_result) / us_per_access(floor));
    std::printf("  random, vmemu / mechanism (time per access)          = %5.3f\n",
        us_per_access(vmemu_result) / us_per_access(bare));
    if (have_limited) {
        std::printf("  random, mechanism / kernel-with-limit                = %5.3f\n",
            us_per_access(bare) / us_per_access(limited));
        std::printf("  random, mechanism with free writes / kernel-with-limit = %5.3f\n",
            us_per_access(bare_reads) / us_per_access(limited));
    }
    long budget_kb = static_cast<long>(settings.frames_bytes / 1024) + metadata_kb;
    // Allow the 16 zero frames and 1 MiB for the allocator's slack and the threads' stacks.
    budget_kb += 16 * 4 + 1024;
    std::printf("\nmemory: vmemu holds %ld kB; F plus metadata is %ld kB: %s\n", vmemu_result.memory_kb, budget_kb,
        vmemu_result.memory_kb <= budget_kb ? "within" : "OVER");
    bool ok = vmemu_result.wrong == 0 && floor.wrong == 0 && (!have_limited || limited.wrong == 0);
    return ok ? 0 : 1;
}
