// First-touch page faults on 64 MiB of a vmemu AddressSpace, in random page order: the
// fault path with its tracepoints. Built twice (bench/CMakeLists.txt): against the library
// as it ships, where it runs with tracing off, with latency histograms on and with events
// recorded; and with VMEMU_NO_TRACEPOINTS, where only "off" means anything.
// bench/trace_overhead.sh runs the builds side by side and prints the ratios.
#include <algorithm>
#include <benchmark/benchmark.h>
#include <numeric>
#include <random>
#include <sys/mman.h>
#include <vector>
#include <vmemu/trace/latency.hpp>
#include <vmemu/vmemu.hpp>

namespace {

constexpr std::size_t kRegion = std::size_t { 64 } << 20;
constexpr std::size_t kPages = kRegion / vmemu::kPageSize;

enum class Tracing { Off, Histograms, Events };

void first_touch(benchmark::State& state, Tracing tracing)
{
    std::vector<std::size_t> order(kPages);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937_64(2026));
    auto machine = vmemu::Machine::create({ .frames = kPages + 1024 });
    auto space = machine ? (*machine)->create_address_space(std::size_t { 1 } << 30) : std::unexpected(machine.error());
    if (!space) {
        state.SkipWithError(space.error().what());
        return;
    }
    if (tracing != Tracing::Off)
        vmemu::trace::start_histograms();
    if (tracing == Tracing::Events && !vmemu::trace::start(std::size_t { 1 } << 20, 4)) {
        state.SkipWithError("cannot start tracing");
        return;
    }
    for (auto _ : state) {
        state.PauseTiming();
        auto region = (*space)->mmap(vmemu::VirtAddr(), kRegion, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        if (!region) {
            state.SkipWithError(region.error().what());
            break;
        }
        state.ResumeTiming();
        for (std::size_t page : order)
            region->template ptr<char>()[page * vmemu::kPageSize] = 1;
        benchmark::ClobberMemory();
        state.PauseTiming();
        (void)(*space)->munmap(*region, kRegion);
        state.ResumeTiming();
    }
    vmemu::trace::stop();
    vmemu::trace::stop_histograms();
    state.counters["ns_per_page"] = benchmark::Counter(static_cast<double>(state.iterations() * kPages) / 1e9,
        benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

} // namespace

BENCHMARK_CAPTURE(first_touch, off, Tracing::Off)->Name("first_touch/tracing_off")->Unit(benchmark::kMillisecond);
#ifndef VMEMU_NO_TRACEPOINTS
BENCHMARK_CAPTURE(first_touch, histograms, Tracing::Histograms)
    ->Name("first_touch/histograms_on")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(first_touch, events, Tracing::Events)->Name("first_touch/events_on")->Unit(benchmark::kMillisecond);
#endif
BENCHMARK_MAIN();
