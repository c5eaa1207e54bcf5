// scan: sequential passes over a region twice the frames, each pass checking what the last
// one wrote and writing a new generation. Swap readahead and fault-around carry it.
//
//   scan [--frames SIZE] [--swap PATH] [--swap-size SIZE] [--stats FILE]
#include <chrono>
#include "example_support.hpp"

using namespace vmemu;
using namespace vmemu::example;

int main(int argc, char** argv)
{
    Options options = parse_options(argc, argv);
    std::size_t frames = options.frames_bytes / kPageSize;
    std::size_t pages = 2 * frames;
    constexpr std::uint32_t kPasses = 4;
    Run run = start(argv[0], options, pages);
    Machine* machine = run.machine.get();
    VirtAddr region = run.region;
    auto* words = region.ptr<std::uint32_t>();
    std::printf("scan: %u passes over %zu pages (%zu MiB) on %zu frames (%zu MiB)\n", kPasses, pages,
        pages * kPageSize >> 20, frames, options.frames_bytes >> 20);
    std::size_t wrong = 0;
    auto started = std::chrono::steady_clock::now();
    for (std::uint32_t pass = 1; pass <= kPasses; ++pass) {
        for (std::size_t page = 0; page < pages; ++page) {
            if (pass > 1)
                wrong += !PageSignature::check(words, page, pass - 1);
            PageSignature::write(words, page, pass);
        }
    }
    for (std::size_t page = 0; page < pages; ++page)
        wrong += !PageSignature::check(words, page, kPasses);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    double mib = static_cast<double>(kPasses * pages * kPageSize) / (1 << 20);
    std::printf("scan: %.0f MiB in %.2f s (%.0f MiB/s), swap readahead hits %lld of %lld\n", mib, seconds,
        mib / seconds, static_cast<long long>(stat(*machine, VmStatItem::SwapRaHit)),
        static_cast<long long>(stat(*machine, VmStatItem::SwapRa)));
    report(argv[0], *machine, options);
    std::printf("\n%s: every page read back %s\n", wrong ? "FAILED" : "ok", wrong ? "wrong" : "as written");
    (void)run.space->munmap(region, pages * kPageSize);
    return wrong ? 1 : 0;
}
