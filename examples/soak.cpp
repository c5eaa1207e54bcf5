// soak: the thrash, scan, fork and file workloads at once on one machine, for a chosen time,
// each verifying every byte it reads back. At the end: the operations done, the bytes
// verified, the mismatches (the exit status is 1 if there is one), and the process's peak RSS
// against the frames.
//
//   soak [--frames SIZE] [--swap PATH] [--swap-size SIZE] [--stats FILE] [--seconds S]
//
// - thrash: random pages of a region twice the frames, each read whole and checked, half of
//   them written whole again with the next generation;
// - scan: a region as large as the frames, written page by page and read back, pass after pass;
// - fork: a small region written, the address space forked, the parent's next writes kept
//   from the child, and both checked whole;
// - file: random pages of a shared file mapping written, msync()ed and read back through
//   pread(2), then checked through the mapping as well.
#include <atomic>
#include <chrono>
#include <fcntl.h>
#include <random>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>
#include <vector>
#include "example_support.hpp"

using namespace vmemu;
using namespace vmemu::example;

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kWords = kPageSize / sizeof(std::uint64_t);

std::uint64_t word_of(std::uint64_t page, std::uint64_t generation, std::size_t word)
{
    std::uint64_t x = (page << 20) ^ (generation << 1) ^ (word * 0x9e3779b97f4a7c15ull);
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    return x ^ (x >> 29);
}

void fill(std::uint64_t* words, std::uint64_t page, std::uint64_t generation)
{
    for (std::size_t i = 0; i < kWords; ++i)
        words[i] = word_of(page, generation, i);
}

// What the workloads counted, and the first mismatches, described.
struct Tally {
    std::atomic<std::uint64_t> operations { 0 };
    std::atomic<std::uint64_t> bytes_verified { 0 };
    std::atomic<std::uint64_t> mismatches { 0 };

    // Every byte of the page; a mismatch is counted and the first few are described.
    bool check(const char* workload, const std::uint64_t* words, std::uint64_t page, std::uint64_t generation)
    {
        bytes_verified.fetch_add(kPageSize, std::memory_order_relaxed);
        for (std::size_t i = 0; i < kWords; ++i) {
            if (words[i] != word_of(page, generation, i)) {
                if (mismatches.fetch_add(1) < 5)
                    std::fprintf(stderr, "soak: MISMATCH in %s: page %llu, generation %llu, word %zu is %#llx\n",
                        workload, static_cast<unsigned long long>(page), static_cast<unsigned long long>(generation),
                        i, static_cast<unsigned long long>(words[i]));
                return false;
            }
        }
        return true;
    }
};

struct Workloads {
    Machine& machine;
    AddressSpace& space;
    Clock::time_point deadline;
    Tally thrash, scan, fork, file;
    std::atomic<bool> failed { false };

    bool running() const { return Clock::now() < deadline && !failed.load(std::memory_order_relaxed); }

    VirtAddr map(std::size_t pages, int flags = MAP_PRIVATE | MAP_ANONYMOUS, int fd = -1)
    {
        auto area = space.mmap(VirtAddr(), pages * kPageSize, PROT_READ | PROT_WRITE, flags, fd);
        if (!area) {
            std::fprintf(stderr, "soak: mmap: %s\n", area.error().what());
            std::_Exit(2); // from a worker thread, while the others run
        }
        return *area;
    }

    void run_thrash(std::size_t pages)
    {
        VirtAddr region = map(pages);
        std::vector<std::uint64_t> generation(pages, 1);
        for (std::size_t page = 0; page < pages; ++page)
            fill(region.offset(page * kPageSize).ptr<std::uint64_t>(), page, 1);
        std::mt19937_64 random(1);
        while (running()) {
            std::size_t page = random() % pages;
            auto* words = region.offset(page * kPageSize).ptr<std::uint64_t>();
            thrash.check("thrash", words, page, generation[page]);
            if (random() & 1)
                fill(words, page, ++generation[page]);
            thrash.operations.fetch_add(1, std::memory_order_relaxed);
        }
        for (std::size_t page = 0; page < pages; ++page)
            thrash.check("thrash", region.offset(page * kPageSize).ptr<std::uint64_t>(), page, generation[page]);
    }

    void run_scan(std::size_t pages)
    {
        VirtAddr region = map(pages);
        for (std::uint64_t pass = 1; running(); ++pass) {
            for (std::size_t page = 0; page < pages; ++page)
                fill(region.offset(page * kPageSize).ptr<std::uint64_t>(), page, pass);
            for (std::size_t page = 0; page < pages; ++page)
                scan.check("scan", region.offset(page * kPageSize).ptr<std::uint64_t>(), page, pass);
            scan.operations.fetch_add(2 * pages, std::memory_order_relaxed);
        }
    }

    void run_fork(std::size_t pages)
    {
        VirtAddr region = map(pages);
        for (std::uint64_t generation = 1; running(); generation += 2) {
            for (std::size_t page = 0; page < pages; ++page)
                fill(region.offset(page * kPageSize).ptr<std::uint64_t>(), page, generation);
            auto forked = space.fork();
            if (!forked) {
                std::fprintf(stderr, "soak: fork: %s\n", forked.error().what());
                failed = true;
                return;
            }
            AddressSpace& child = **forked;
            VirtAddr in_child(child.reservation_start().get() + (region.get() - space.reservation_start().get()));
            for (std::size_t page = 0; page < pages; page += 2)
                fill(region.offset(page * kPageSize).ptr<std::uint64_t>(), page, generation + 1);
            for (std::size_t page = 0; page < pages; ++page) {
                fork.check("fork (child)", in_child.offset(page * kPageSize).ptr<std::uint64_t>(), page, generation);
                fork.check("fork (parent)", region.offset(page * kPageSize).ptr<std::uint64_t>(), page,
                    page % 2 ? generation : generation + 1);
            }
            fork.operations.fetch_add(1, std::memory_order_relaxed);
        }
    }

    void run_file(std::size_t pages)
    {
        char path[] = "/var/tmp/vmemu-soak-XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0 || ftruncate(fd, static_cast<off_t>(pages * kPageSize)) != 0) {
            std::fprintf(stderr, "soak: cannot make the file %s: %s\n", path, std::strerror(errno));
            std::_Exit(2); // from a worker thread, while the others run
        }
        unlink(path);
        VirtAddr region = map(pages, MAP_SHARED, fd);
        std::vector<std::uint64_t> generation(pages, 0);
        std::vector<std::uint64_t> read_back(kWords);
        std::mt19937_64 random(2);
        for (std::size_t page = 0; page < pages; ++page)
            fill(region.offset(page * kPageSize).ptr<std::uint64_t>(), page, 0);
        while (running()) {
            std::size_t page = random() % pages;
            auto* words = region.offset(page * kPageSize).ptr<std::uint64_t>();
            fill(words, page, ++generation[page]);
            if (file.operations.fetch_add(1, std::memory_order_relaxed) % 64 == 63) {
                // Write back, then read what the file holds through the page cache.
                if (auto synced = space.msync(region, pages * kPageSize, MS_SYNC); !synced) {
                    std::fprintf(stderr, "soak: msync: %s\n", synced.error().what());
                    failed = true;
                }
                std::size_t other = random() % pages;
                if (pread(fd, read_back.data(), kPageSize, static_cast<off_t>(other * kPageSize)) != static_cast<ssize_t>(kPageSize)) {
                    std::fprintf(stderr, "soak: pread: %s\n", std::strerror(errno));
                    failed = true;
                }
                file.check("file (pread)", read_back.data(), other, generation[other]);
            }
            file.check("file (mapping)", words, page, generation[page]);
        }
        close(fd);
    }
};

} // namespace

int main(int argc, char** argv)
{
    Options options = parse_options(argc, argv, { .seconds = true });
    std::size_t frames = options.frames_bytes / kPageSize;
    std::size_t thrash_pages = 2 * frames;
    std::size_t scan_pages = frames;
    std::size_t fork_pages = std::max<std::size_t>(frames / 16, 16);
    std::size_t file_pages = std::max<std::size_t>(frames / 4, 16);
    // Swap for the anonymous working set, with room to spare for the fork's copies.
    Options with_swap = options;
    if (!with_swap.swap_bytes)
        with_swap.swap_bytes = (thrash_pages + scan_pages + 3 * fork_pages + frames) * kPageSize;
    std::unique_ptr<Machine> machine = make_machine(argv[0], with_swap, 0);
    auto space = machine->create_address_space(std::size_t { 64 } << 30);
    if (!space)
        usage_error(argv[0], space.error().what());
    std::printf("soak: %.0f s on %zu frames (%zu MiB): thrash over %zu pages, scan over %zu, fork of %zu, "
                "a shared file of %zu\n",
        options.seconds, frames, options.frames_bytes >> 20, thrash_pages, scan_pages, fork_pages, file_pages);
    std::fflush(stdout);

    auto started = Clock::now();
    auto length = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
    Workloads work { *machine, **space, started + length };
    std::vector<std::thread> threads;
    threads.emplace_back([&] { work.run_thrash(thrash_pages); });
    threads.emplace_back([&] { work.run_scan(scan_pages); });
    threads.emplace_back([&] { work.run_fork(fork_pages); });
    threads.emplace_back([&] { work.run_file(file_pages); });
    for (auto& thread : threads)
        thread.join();
    double seconds = std::chrono::duration<double>(Clock::now() - started).count();

    struct rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    std::uint64_t operations = 0, verified = 0, mismatches = 0;
    auto line = [&](const char* name, const Tally& tally, const char* unit) {
        std::printf("  %-7s %14llu %-22s %10.2f GiB verified, %llu mismatches\n", name,
            static_cast<unsigned long long>(tally.operations.load()), unit,
            static_cast<double>(tally.bytes_verified.load()) / (1ull << 30),
            static_cast<unsigned long long>(tally.mismatches.load()));
        operations += tally.operations;
        verified += tally.bytes_verified;
        mismatches += tally.mismatches;
    };
    std::printf("\nsoak: %.1f s\n", seconds);
    line("thrash", work.thrash, "page accesses");
    line("scan", work.scan, "page writes and reads");
    line("fork", work.fork, "forks, checked whole");
    line("file", work.file, "page writes");
    std::printf("  total   %14llu operations, %.2f GiB verified, %llu mismatches\n",
        static_cast<unsigned long long>(operations), static_cast<double>(verified) / (1ull << 30),
        static_cast<unsigned long long>(mismatches));
    std::printf("  peak RSS %ld MiB for %zu MiB of frames (the frames' descriptors, the page tables and "
                "the program's own memory are the rest)\n",
        usage.ru_maxrss / 1024, options.frames_bytes >> 20);
    report(argv[0], *machine, options);
    bool ok = mismatches == 0 && !work.failed;
    std::printf("\n%s: %s\n", ok ? "ok" : "FAILED", ok ? "every byte read back as written" : "see above");
    return ok ? 0 : 1;
}
