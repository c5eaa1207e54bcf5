// threads: first touch of BYTES by one thread, then by two threads each touching its own half,
// natively and on vmemu's two fault sources, side by side in one run. Reports the wall time of
// each and the ratio two threads / one thread (1.0: the faults serialize; 0.5: they scale).
//
//   threads [--bytes SIZE] [--rounds N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <thread>
#include <vector>
#include <vmemu/base/parse_size.hpp>
#include <vmemu/vmemu.hpp>

namespace {

constexpr std::size_t kPage = 4096;
using Clock = std::chrono::steady_clock;

// One write per page of [base, base + bytes), split among `threads` threads; seconds of wall time.
double touch(char* base, std::size_t bytes, unsigned threads)
{
    std::vector<std::thread> workers;
    std::size_t share = bytes / threads / kPage * kPage;
    auto start = Clock::now();
    for (unsigned t = 0; t < threads; ++t) {
        workers.emplace_back([=] {
            for (std::size_t offset = 0; offset < share; offset += kPage)
                base[t * share + offset] = 1;
        });
    }
    for (auto& worker : workers)
        worker.join();
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// The best of rounds of a fresh region touched by `threads` threads.
template<typename Map, typename Unmap>
double best_of(unsigned rounds, std::size_t bytes, unsigned threads, Map map, Unmap unmap)
{
    double best = 1e9;
    for (unsigned round = 0; round < rounds; ++round) {
        char* base = map();
        if (!base)
            return -1;
        best = std::min(best, touch(base, bytes, threads));
        unmap(base);
    }
    return best;
}

} // namespace

int main(int argc, char** argv)
{
    std::size_t bytes = std::size_t { 128 } << 20;
    unsigned rounds = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--bytes") == 0 && vmemu::parse_size(argv[i + 1]))
            bytes = *vmemu::parse_size(argv[i + 1]);
        else if (std::strcmp(argv[i], "--rounds") == 0 && std::atoi(argv[i + 1]) > 0)
            rounds = static_cast<unsigned>(std::atoi(argv[i + 1]));
        else {
            std::fprintf(stderr, "usage: threads [--bytes SIZE] [--rounds N]\n");
            return 2;
        }
    }
    if (argc % 2 == 0) {
        std::fprintf(stderr, "usage: threads [--bytes SIZE] [--rounds N]\n");
        return 2;
    }
    std::printf("first touch of %zu MiB, best of %u rounds, seconds of wall time\n\n", bytes >> 20, rounds);
    std::printf("%-12s %12s %12s %18s\n", "backend", "one thread", "two threads", "two / one");
    auto report = [](const char* name, double one, double two) {
        std::printf("%-12s %12.3f %12.3f %18.2f\n", name, one, two, two / one);
    };
    {
        auto map = [&]() -> char* {
            void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (memory == MAP_FAILED)
                return nullptr;
            madvise(memory, bytes, MADV_NOHUGEPAGE);
            return static_cast<char*>(memory);
        };
        auto unmap = [&](char* base) { munmap(base, bytes); };
        report("native", best_of(rounds, bytes, 1, map, unmap), best_of(rounds, bytes, 2, map, unmap));
    }
    for (auto [name, source] : { std::pair { "vmemu", vmemu::FaultSourceKind::Signal },
             std::pair { "vmemu_uffd", vmemu::FaultSourceKind::Userfault } }) {
        auto machine = vmemu::Machine::create({ .frames = 2 * bytes / kPage, .fault_source = source });
        if (!machine) {
            std::fprintf(stderr, "threads: %s\n", machine.error().what());
            return 1;
        }
        auto space = (*machine)->create_address_space();
        if (!space) {
            std::fprintf(stderr, "threads: %s\n", space.error().what());
            return 1;
        }
        auto map = [&]() -> char* {
            auto region = (*space)->mmap(vmemu::VirtAddr(), bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
            return region ? region->ptr<char>() : nullptr;
        };
        auto unmap = [&](char* base) { (void)(*space)->munmap(vmemu::VirtAddr(reinterpret_cast<std::uintptr_t>(base)), bytes); };
        report(name, best_of(rounds, bytes, 1, map, unmap), best_of(rounds, bytes, 2, map, unmap));
    }
    std::printf("\ntarget: two / one <= 0.75 for vmemu's default fault source\n");
    return 0;
}
