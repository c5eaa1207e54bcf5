// vmemu's main demonstration: demand paging at work, phase by phase, with the counters a
// Linux user knows from /proc/vmstat, /proc/meminfo, /proc/buddyinfo and /proc/PID/smaps.
//
//   demand_paging [FRAMES]    (default 16384 frames, 64 MiB)
#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <sys/mman.h>
#include <thread>
#include <vector>
#include <vmemu/vmemu.hpp>
#include "example_support.hpp"

namespace {

constexpr std::size_t kMiB = std::size_t { 1 } << 20;

// Runs one phase and prints the vmstat counters it changed, as `vmstat` deltas.
template<typename Phase>
void phase(vmemu::Machine& machine, const char* title, Phase&& body)
{
    auto before = vmemu::example::vmstat_values(machine);
    body();
    std::printf("\n== %s\n", title);
    vmemu::example::print_vmstat_changes(before, machine);
}

template<typename T>
T check(vmemu::VmResult<T> result, const char* what)
{
    if (!result) {
        std::fprintf(stderr, "demand_paging: %s: %s (%s)\n", what, result.error().what(),
            std::strerror(result.error().code()));
        std::exit(1);
    }
    if constexpr (!std::is_void_v<T>)
        return std::move(*result);
}

// A decimal count of frames from 256 to 131072, and nothing else.
bool parse_frame_count(const char* text, std::size_t& frames)
{
    auto [end, error] = std::from_chars(text, text + std::strlen(text), frames);
    return error == std::errc() && *end == '\0' && frames >= 256 && frames <= 131072;
}

} // namespace

int main(int argc, char** argv)
{
    // The phases place their regions for up to 131072 frames (512 MiB).
    std::size_t frames = 16384;
    if (argc > 2 || (argc == 2 && !parse_frame_count(argv[1], frames))) {
        std::fprintf(stderr, "usage: demand_paging [FRAMES] (a count of 4 KiB frames, 256 to 131072)\n");
        return 2;
    }
    auto machine = check(vmemu::Machine::create({ .frames = frames }), "machine");
    auto space = check(machine->create_address_space(), "address space");
    std::size_t memory = frames * vmemu::kPageSize;
    std::printf("vmemu: %zu frames (%zu MiB) of physical memory; 64 GiB of virtual space\n", frames, memory / kMiB);
    std::printf("\n%s", machine->zoneinfo().c_str());

    // 1 GiB of virtual memory on a fraction of that in frames: only touched pages cost.
    std::size_t region_size = std::size_t { 1 } << 30;
    auto region = check(space->mmap(vmemu::VirtAddr(), region_size, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE),
        "mmap");
    char* bytes = region.ptr<char>();
    std::size_t sequential = memory / 2;

    phase(*machine, "sequential first touch: fault-around maps growing windows of contiguous frames", [&] {
        for (std::size_t offset = 0; offset < sequential; offset += vmemu::kPageSize)
            bytes[offset] = 1;
    });

    std::size_t random_base = region_size / 2;
    std::size_t random_pages = memory / 8 / vmemu::kPageSize;
    phase(*machine, "random first touch: one fault per page", [&] {
        std::vector<std::size_t> order(random_pages);
        for (std::size_t i = 0; i < random_pages; ++i)
            order[i] = i;
        std::shuffle(order.begin(), order.end(), std::mt19937_64(42));
        for (std::size_t page : order)
            bytes[random_base + page * vmemu::kPageSize] = 2;
    });

    std::size_t zero_base = region_size / 4;
    std::size_t zero_pages = memory / 8 / vmemu::kPageSize;
    long sum = 0;
    phase(*machine, "reading untouched memory: the shared zero page, no frames", [&] {
        for (std::size_t page = 0; page < zero_pages; ++page)
            sum += bytes[zero_base + page * vmemu::kPageSize];
    });
    phase(*machine, "writing half of it: each write replaces the zero page with a frame", [&] {
        for (std::size_t page = 0; page < zero_pages; page += 2)
            bytes[zero_base + page * vmemu::kPageSize] = 3;
    });

    std::size_t thread_base = region_size / 8;
    phase(*machine, "two threads touching one range at the same moment", [&] {
        std::atomic<int> ready { 0 };
        auto worker = [&](std::size_t first) {
            ready.fetch_add(1);
            while (ready.load() < 2) { }
            for (std::size_t page = first; page < random_pages; page += 2)
                bytes[thread_base + page * vmemu::kPageSize] += 1;
        };
        std::thread a(worker, 0), b(worker, 1);
        a.join();
        b.join();
    });

    phase(*machine, "madvise(MADV_DONTNEED) on the sequential range: its frames go back to the buddy", [&] {
        check(space->madvise(region, sequential, MADV_DONTNEED), "madvise");
    });

    // Everything must read back as written.
    std::size_t wrong = sum != 0;
    for (std::size_t offset = 0; offset < sequential; offset += vmemu::kPageSize)
        wrong += bytes[offset] != 0;
    for (std::size_t page = 0; page < random_pages; ++page)
        wrong += bytes[random_base + page * vmemu::kPageSize] != 2;
    for (std::size_t page = 0; page < zero_pages; ++page)
        wrong += bytes[zero_base + page * vmemu::kPageSize] != (page % 2 == 0 ? 3 : 0);

    std::printf("\n== /proc/meminfo\n%s", machine->meminfo().c_str());
    std::printf("\n== /proc/buddyinfo\n%s", machine->buddyinfo().c_str());
    std::printf("\n== /proc/vmstat\n%s", machine->vmstat().c_str());
    std::printf("\n== /proc/self/smaps\n%s", space->smaps().c_str());
    std::printf("\n%s: every page read back %s\n", wrong ? "FAILED" : "ok", wrong ? "wrong" : "as written");
    check(space->munmap(region, region_size), "munmap");
    return wrong ? 1 : 0;
}
