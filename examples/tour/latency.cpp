// tour latency: the exercise. The machine is made to swap (an anonymous working set twice its
// frames, written at random all along), and the kmem latency histograms, fed by the page
// allocator's tracepoints, measure page allocation and freeing in three phases: idle (only
// the swapping), under heavy file reads (a mapped file twice the frames, read over and over
// through the page cache) and under heavy file writes (another, written over and over, which
// the flusher and reclaim write back). The histograms are printed side by side.
#include <atomic>
#include <chrono>
#include <fcntl.h>
#include <random>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>
#include <vector>
#include "tour.hpp"

namespace vmemu::tour {

namespace {
constexpr std::size_t kFrames = 8192; // 32 MiB
constexpr std::size_t kPages = 2 * kFrames;
constexpr std::size_t kWordsPerPage = kPageSize / sizeof(std::uint64_t);

// A file of kPages pages whose first word in each page is the page's number, unlinked from
// the start (O_TMPFILE) in $TMPDIR or /var/tmp.
int make_file()
{
    const char* directory = std::getenv("TMPDIR");
    int fd = ::open(directory && *directory ? directory : "/var/tmp", O_TMPFILE | O_RDWR, 0600);
    if (fd < 0) {
        std::perror("tour: a file in $TMPDIR or /var/tmp");
        std::exit(1);
    }
    std::vector<std::uint64_t> chunk(256 * kWordsPerPage);
    for (std::size_t page = 0; page < kPages; page += 256) {
        for (std::size_t i = 0; i < 256; ++i)
            chunk[i * kWordsPerPage] = page + i;
        auto bytes = static_cast<ssize_t>(chunk.size() * sizeof(std::uint64_t));
        if (::pwrite(fd, chunk.data(), static_cast<std::size_t>(bytes), static_cast<off_t>(page * kPageSize)) != bytes) {
            std::perror("tour: writing the file");
            std::exit(1);
        }
    }
    return fd;
}

struct Phase {
    const char* name;
    trace::LatencyHistogram alloc;
    trace::LatencyHistogram free;
    std::map<std::string, long long> vmstat_before;
    std::map<std::string, long long> vmstat_after;
};

// The k-th percentile's bucket, as its upper bound.
std::uint64_t percentile(const trace::LatencyHistogram& histogram, double fraction)
{
    std::uint64_t seen = 0;
    for (unsigned k = 0; k < trace::LatencyHistogram::kBuckets; ++k) {
        seen += histogram.buckets[k];
        if (histogram.count && static_cast<double>(seen) >= fraction * static_cast<double>(histogram.count))
            return trace::LatencyHistogram::high(k);
    }
    return 0;
}

// funclatency's histograms of the three phases, one column each, on the same buckets.
void print_side_by_side(const char* title, const std::vector<Phase>& phases,
    trace::LatencyHistogram Phase::*which)
{
    unsigned first = trace::LatencyHistogram::kBuckets;
    unsigned last = 0;
    std::uint64_t peak[3] {};
    for (std::size_t p = 0; p < phases.size(); ++p) {
        const trace::LatencyHistogram& histogram = phases[p].*which;
        for (unsigned k = 0; k < trace::LatencyHistogram::kBuckets; ++k) {
            if (histogram.buckets[k]) {
                first = std::min(first, k);
                last = std::max(last, k);
                peak[p] = std::max(peak[p], histogram.buckets[k]);
            }
        }
    }
    std::printf("\n%s\n%28s", title, "nsecs");
    for (const Phase& phase : phases)
        std::printf(" : %-27s", phase.name);
    std::printf("\n");
    if (first > last)
        return;
    constexpr int kBar = 18;
    for (unsigned k = first; k <= last; ++k) {
        std::printf("%12lu -> %-12lu", static_cast<unsigned long>(trace::LatencyHistogram::low(k)),
            static_cast<unsigned long>(trace::LatencyHistogram::high(k)));
        for (std::size_t p = 0; p < phases.size(); ++p) {
            std::uint64_t count = (phases[p].*which).buckets[k];
            int stars = peak[p] ? static_cast<int>(count * kBar / peak[p]) : 0;
            std::printf(" : %-7lu|%.*s%*s|", static_cast<unsigned long>(count), stars, "******************",
                kBar - stars, "");
        }
        std::printf("\n");
    }
    std::printf("%28s", "count, average, p99");
    for (const Phase& phase : phases) {
        const trace::LatencyHistogram& histogram = phase.*which;
        char cell[64];
        std::snprintf(cell, sizeof cell, "%lu, %lu ns, <%lu ns", static_cast<unsigned long>(histogram.count),
            static_cast<unsigned long>(histogram.count ? histogram.total_ns / histogram.count : 0),
            static_cast<unsigned long>(percentile(histogram, 0.99)));
        std::printf(" : %-27s", cell);
    }
    std::printf("\n");
}
} // namespace

int latency_chapter(const Options& options)
{
    auto machine = make_machine(kFrames, std::size_t { 160 } << 20, true);
    TraceRecording recording(*machine, options);
    auto space = check(machine->create_address_space(), "address space");
    auto* anon = check(space->mmap(VirtAddr(), kPages * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS),
        "mmap")
                     .ptr<std::uint64_t>();
    int read_fd = make_file();
    int write_fd = make_file();
    auto* read_map = check(space->mmap(VirtAddr(), kPages * kPageSize, PROT_READ, MAP_SHARED, read_fd), "mmap")
                         .ptr<const std::uint64_t>();
    auto* write_map = check(space->mmap(VirtAddr(), kPages * kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED, write_fd),
        "mmap")
                          .ptr<std::uint64_t>();
    std::printf("%zu frames (%zu MiB); an anonymous working set of %zu MiB, written at random all along, keeps\n"
                "the machine swapping; the two mapped files are %zu MiB each. Each phase runs %.1f s.\n",
        kFrames, kFrames * kPageSize >> 20, kPages * kPageSize >> 20, kPages * kPageSize >> 20, options.seconds);
    for (std::size_t page = 0; page < kPages; ++page)
        anon[page * kWordsPerPage] = page;

    std::atomic<bool> stop { false };
    std::atomic<std::size_t> wrong { 0 };
    std::vector<std::uint64_t> generation(kPages, 0);
    auto swapper = [&] {
        std::mt19937_64 random(7);
        while (!stop.load(std::memory_order_relaxed)) {
            std::size_t page = random() % kPages;
            std::uint64_t& word = anon[page * kWordsPerPage];
            wrong.fetch_add(word % kPages != page, std::memory_order_relaxed);
            word += kPages;
        }
    };
    auto reader = [&] {
        for (std::size_t page = 0; !stop.load(std::memory_order_relaxed); page = (page + 1) % kPages)
            wrong.fetch_add(read_map[page * kWordsPerPage] != page, std::memory_order_relaxed);
    };
    auto writer = [&] {
        for (std::size_t page = 0; !stop.load(std::memory_order_relaxed); page = (page + 1) % kPages) {
            write_map[page * kWordsPerPage] = page + (++generation[page]) * kPages;
            write_map[page * kWordsPerPage + 1] = generation[page];
        }
    };

    std::vector<Phase> phases { { "idle (swapping only)", {}, {}, {}, {} }, { "heavy file reads", {}, {}, {}, {} },
        { "heavy file writes", {}, {}, {}, {} } };
    for (std::size_t p = 0; p < phases.size(); ++p) {
        stop = false;
        std::vector<std::thread> threads;
        threads.emplace_back(swapper);
        if (p == 1)
            threads.emplace_back(reader);
        if (p == 2)
            threads.emplace_back(writer);
        phases[p].vmstat_before = vmstat_values(*machine);
        trace::start_histograms();
        std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds));
        trace::stop_histograms();
        phases[p].vmstat_after = vmstat_values(*machine);
        stop = true;
        for (std::thread& thread : threads)
            thread.join();
        phases[p].alloc = trace::latency_histogram(trace::Latency::PageAlloc);
        phases[p].free = trace::latency_histogram(trace::Latency::PageFree);
    }

    std::printf("\nvmstat, per second of each phase\n%28s", "");
    for (const Phase& phase : phases)
        std::printf(" : %-27s", phase.name);
    std::printf("\n");
    for (const char* name : { "pgalloc_normal", "pgfree", "pswpin", "pswpout", "pgpgin", "pgpgout", "pgmajfault",
             "pgsteal_kswapd", "pgsteal_direct" }) {
        std::printf("%28s", name);
        for (const Phase& phase : phases) {
            auto after = phase.vmstat_after.find(name);
            auto before = phase.vmstat_before.find(name);
            long long delta = (after == phase.vmstat_after.end() ? 0 : after->second)
                - (before == phase.vmstat_before.end() ? 0 : before->second);
            std::printf(" : %-27.0f", static_cast<double>(delta) / options.seconds);
        }
        std::printf("\n");
    }
    print_side_by_side("page allocation (kmem:mm_page_alloc, alloc_pages() with any direct reclaim)", phases,
        &Phase::alloc);
    print_side_by_side("page freeing (kmem:mm_page_free, __free_pages())", phases, &Phase::free);

    // Every byte is checked: the reads saw each page's number, and the written file holds the
    // last generation of every page.
    check(space->msync(VirtAddr(reinterpret_cast<std::uintptr_t>(write_map)), kPages * kPageSize, MS_SYNC), "msync");
    std::vector<std::uint64_t> buffer(2);
    for (std::size_t page = 0; page < kPages; ++page) {
        if (::pread(write_fd, buffer.data(), 16, static_cast<off_t>(page * kPageSize)) != 16
            || buffer[0] != page + generation[page] * kPages || buffer[1] != generation[page])
            wrong.fetch_add(1);
        wrong.fetch_add(anon[page * kWordsPerPage] % kPages != page);
    }
    std::printf("\n%s: %zu pages read or written back wrong\n", wrong ? "FAILED" : "ok", wrong.load());
    space.reset();
    ::close(read_fd);
    ::close(write_fd);
    return wrong ? 1 : 0;
}

} // namespace vmemu::tour
