// snapshot: an in-process snapshot of a demand-paged arena by fork of its address space. The
// arena (twice the frames, so that it swaps) is filled, forked, and then written at random by
// one thread while another reads the snapshot back: the snapshot keeps the bytes of the moment
// of the fork, the arena has every write, and only the pages written after the fork are
// copied (cow_fault).
//
//   snapshot [--frames SIZE] [--swap PATH] [--swap-size SIZE] [--stats FILE]
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
    Options options = parse_options(argc, argv);
    std::size_t frames = options.frames_bytes / kPageSize;
    std::size_t pages = 2 * frames;
    Run run = start(argv[0], options, pages);
    Machine& machine = *run.machine;
    auto* live = run.region.ptr<std::uint32_t>();
    std::printf("snapshot: an arena of %zu pages (%zu MiB) on %zu frames (%zu MiB)\n", pages, pages * kPageSize >> 20,
        frames, options.frames_bytes >> 20);
    for (std::size_t page = 0; page < pages; ++page)
        PageSignature::write(live, page, 1);

    auto started = std::chrono::steady_clock::now();
    auto forked = run.space->fork();
    if (!forked)
        usage_error(argv[0], std::string("fork: ") + forked.error().what());
    double fork_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    std::unique_ptr<AddressSpace> snapshot = std::move(*forked);
    // The snapshot's VMAs lie at the arena's offsets in its own reservation.
    auto* frozen = snapshot->reservation_start()
                       .offset(run.region - run.space->reservation_start())
                       .ptr<std::uint32_t>();
    std::int64_t cow_before = stat(machine, VmStatItem::CowFault);
    std::printf("snapshot: fork of %zu pages took %.2f ms\n", pages, fork_ms);

    // The writer changes the arena while the reader checks the snapshot, both as reclaim runs.
    std::vector<std::uint32_t> generation(pages, 1);
    std::atomic<std::size_t> snapshot_wrong { 0 };
    std::size_t writes = pages;
    std::thread writer([&] {
        std::mt19937_64 random(99);
        for (std::size_t i = 0; i < writes; ++i) {
            std::size_t page = random() % pages;
            PageSignature::write(live, page, ++generation[page]);
        }
    });
    std::thread reader([&] {
        for (int pass = 0; pass < 2; ++pass) {
            for (std::size_t page = 0; page < pages; ++page)
                snapshot_wrong += !PageSignature::check(frozen, page, 1);
        }
    });
    writer.join();
    reader.join();
    std::size_t live_wrong = 0;
    std::size_t written = 0;
    for (std::size_t page = 0; page < pages; ++page) {
        live_wrong += !PageSignature::check(live, page, generation[page]);
        snapshot_wrong += !PageSignature::check(frozen, page, 1);
        written += generation[page] > 1;
    }
    std::int64_t copied = stat(machine, VmStatItem::CowFault) - cow_before;
    std::printf("snapshot: %zu writes to %zu distinct pages of the arena; %lld pages copied on write\n", writes, written,
        static_cast<long long>(copied));
    report(argv[0], machine, options);
    snapshot.reset();
    bool ok = snapshot_wrong == 0 && live_wrong == 0 && copied > 0 && static_cast<std::size_t>(copied) <= written;
    std::printf("\n%s: the snapshot read back %zu pages wrong, the arena %zu\n", ok ? "ok" : "FAILED",
        static_cast<std::size_t>(snapshot_wrong), live_wrong);
    return ok ? 0 : 1;
}
