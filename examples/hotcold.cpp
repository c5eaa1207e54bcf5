// hotcold: 90% of the accesses go to a hot set that fits in the frames, 10% to a cold set
// four times the frames. The LRU's second chance should keep the hot set resident. The hit
// ratio vmemu achieves (accesses that caused no major fault) is printed next to what FIFO and
// exact LRU would achieve with the same number of resident pages, simulated over the same
// access trace.
//
//   hotcold [--frames SIZE] [--swap PATH] [--swap-size SIZE] [--stats FILE]
#include <list>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#include "example_support.hpp"

using namespace vmemu;
using namespace vmemu::example;

namespace {

// The fraction of trace[from..] that hits in a cache of capacity pages, after trace[..from]
// warmed it.
double simulate_fifo(const std::vector<std::uint32_t>& trace, std::size_t from, std::size_t capacity)
{
    std::list<std::uint32_t> order;
    std::unordered_set<std::uint32_t> resident;
    std::size_t hits = 0;
    for (std::size_t i = 0; i < trace.size(); ++i) {
        if (resident.count(trace[i])) {
            hits += i >= from;
            continue;
        }
        if (resident.size() == capacity) {
            resident.erase(order.front());
            order.pop_front();
        }
        order.push_back(trace[i]);
        resident.insert(trace[i]);
    }
    return static_cast<double>(hits) / static_cast<double>(trace.size() - from);
}

double simulate_lru(const std::vector<std::uint32_t>& trace, std::size_t from, std::size_t capacity)
{
    std::list<std::uint32_t> order; // most recent at the front
    std::unordered_map<std::uint32_t, std::list<std::uint32_t>::iterator> where;
    std::size_t hits = 0;
    for (std::size_t i = 0; i < trace.size(); ++i) {
        auto found = where.find(trace[i]);
        if (found != where.end()) {
            hits += i >= from;
            order.splice(order.begin(), order, found->second);
            continue;
        }
        if (where.size() == capacity) {
            where.erase(order.back());
            order.pop_back();
        }
        order.push_front(trace[i]);
        where[trace[i]] = order.begin();
    }
    return static_cast<double>(hits) / static_cast<double>(trace.size() - from);
}

} // namespace

int main(int argc, char** argv)
{
    Options options = parse_options(argc, argv);
    std::size_t frames = options.frames_bytes / kPageSize;
    std::size_t hot = frames / 4;
    std::size_t cold = 4 * frames;
    std::size_t pages = hot + cold;
    Run run = start(argv[0], options, pages);
    Machine* machine = run.machine.get();
    VirtAddr region = run.region;
    auto* words = region.ptr<std::uint32_t>();
    std::vector<std::uint32_t> generation(pages, 1);
    for (std::size_t page = 0; page < pages; ++page)
        PageSignature::write(words, page, 1);

    // Pages 0..hot-1 are hot. The trace is fixed, so that the simulations see the same one.
    std::mt19937_64 random(77);
    std::size_t warmup = 4 * pages;
    std::size_t measured = 8 * pages;
    std::vector<std::uint32_t> trace(warmup + measured);
    for (auto& page : trace)
        page = static_cast<std::uint32_t>(random() % 10 < 9 ? random() % hot : hot + random() % cold);

    std::size_t wrong = 0;
    std::int64_t major_before = 0;
    std::int64_t resident = 0;
    for (std::size_t i = 0; i < trace.size(); ++i) {
        if (i == warmup) {
            major_before = stat(*machine, VmStatItem::PgMajFault);
            resident = stat(*machine, VmStatItem::NrAnonPages);
        }
        std::uint32_t page = trace[i];
        wrong += !PageSignature::check(words, page, generation[page]);
        if (i & 1)
            PageSignature::write(words, page, ++generation[page]);
    }
    std::int64_t misses = stat(*machine, VmStatItem::PgMajFault) - major_before;
    for (std::size_t page = 0; page < pages; ++page)
        wrong += !PageSignature::check(words, page, generation[page]);

    auto capacity = static_cast<std::size_t>(resident);
    double vmemu_ratio = 1.0 - static_cast<double>(misses) / static_cast<double>(measured);
    std::printf("hotcold: %zu hot pages get 90%% of %zu accesses, %zu cold pages 10%%; %zu frames, %zu resident\n",
        hot, measured, cold, frames, capacity);
    double fifo_ratio = simulate_fifo(trace, warmup, capacity);
    std::printf("hit ratio: vmemu (active/inactive LRU) %.3f, FIFO %.3f, exact LRU %.3f (same trace, %zu pages)\n",
        vmemu_ratio, fifo_ratio, simulate_lru(trace, warmup, capacity), capacity);
    report(argv[0], *machine, options);
    // The point of the example: the LRU's second chance keeps the hot set where FIFO loses it.
    bool kept_hot = vmemu_ratio >= fifo_ratio;
    std::printf("\n%s: the hot set %s\n", kept_hot ? "ok" : "FAILED",
        kept_hot ? "stayed resident at least as well as under FIFO" : "was evicted more than under FIFO");
    std::printf("%s: every page read back %s\n", wrong ? "FAILED" : "ok", wrong ? "wrong" : "as written");
    (void)run.space->munmap(region, pages * kPageSize);
    return wrong || !kept_hot ? 1 : 0;
}
