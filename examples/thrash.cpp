// thrash: uniform random reads and writes over a working set four times the frames, by one
// or more threads (--threads N), verifying every page it reads and, at the end, every page.
//
//   thrash [--frames SIZE] [--swap PATH] [--swap-size SIZE] [--stats FILE] [--threads N]
#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>
#include "example_support.hpp"

using namespace vmemu;
using namespace vmemu::example;

int main(int argc, char** argv)
{
    Options options = parse_options(argc, argv, { .threads = true });
    std::size_t frames = options.frames_bytes / kPageSize;
    std::size_t pages = 4 * frames;
    Run run = start(argv[0], options, pages);
    Machine* machine = run.machine.get();
    VirtAddr region = run.region;
    auto* words = region.ptr<std::uint32_t>();
    std::vector<std::uint32_t> generation(pages, 1);
    std::printf("thrash: %zu pages (%zu MiB) of working set on %zu frames (%zu MiB), %u thread(s)\n", pages,
        pages * kPageSize >> 20, frames, options.frames_bytes >> 20, options.threads);
    for (std::size_t page = 0; page < pages; ++page)
        PageSignature::write(words, page, 1);

    // Each thread owns an interleaved share of the pages, so that its checks are exact.
    std::size_t accesses = 2 * pages;
    std::atomic<std::size_t> wrong { 0 };
    auto started = std::chrono::steady_clock::now();
    std::int64_t major_before = stat(*machine, VmStatItem::PgMajFault);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < options.threads; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937_64 random(1234 + t);
            std::size_t share = pages / options.threads;
            for (std::size_t i = 0; i < accesses / options.threads; ++i) {
                std::size_t page = (random() % share) * options.threads + t;
                if (!PageSignature::check(words, page, generation[page]))
                    wrong.fetch_add(1);
                if (random() & 1)
                    PageSignature::write(words, page, ++generation[page]);
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::int64_t major = stat(*machine, VmStatItem::PgMajFault) - major_before;
    for (std::size_t page = 0; page < pages; ++page)
        wrong += !PageSignature::check(words, page, generation[page]);

    std::printf("thrash: %zu random accesses in %.2f s (%.2f us each), %lld major faults (%.1f%% of accesses)\n",
        accesses, seconds, seconds * 1e6 / static_cast<double>(accesses), static_cast<long long>(major),
        100.0 * static_cast<double>(major) / static_cast<double>(accesses));
    report(argv[0], *machine, options);
    std::printf("\n%s: every page read back %s\n", wrong ? "FAILED" : "ok", wrong ? "wrong" : "as written");
    (void)run.space->munmap(region, pages * kPageSize);
    return wrong ? 1 : 0;
}
