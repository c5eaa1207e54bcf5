// tour slab: the slab caches of a /proc/slabinfo text (version 2.1), as `vmemu run --stats`
// writes the program's heap, or the kernel's own /proc/slabinfo (root only). Prints the caches
// in use, largest first by memory; the picture draws each of them as its slabs and the share
// of its objects in use.
#include <algorithm>
#include <fstream>
#include <vector>
#include "svg.hpp"
#include "tour.hpp"

namespace vmemu::tour {

namespace {
struct Cache {
    std::string name;
    unsigned long active_objs, num_objs, objsize, objperslab, pagesperslab, active_slabs, num_slabs;
    unsigned long bytes() const { return num_slabs * pagesperslab * kPageSize; }
};

// Figures a cache can have: no more in use than there are, at least one object to a slab, and
// no count a negative number would wrap to (sscanf's %lu takes "-1").
bool plausible(const Cache& cache)
{
    constexpr unsigned long kMost = 1ul << 32;
    return cache.active_objs <= cache.num_objs && cache.active_slabs <= cache.num_slabs && cache.objperslab >= 1
        && cache.pagesperslab >= 1 && cache.num_objs < kMost && cache.num_slabs < kMost && cache.objsize < kMost
        && cache.objperslab < kMost && cache.pagesperslab < kMost;
}

// The caches of a slabinfo text: from its "slabinfo - version: 2.1" line (the first of
// /proc/slabinfo, or one in the middle of a `vmemu run --stats` file) to the end or the first
// empty line. Exits naming the line that is not slabinfo 2.1.
std::vector<Cache> parse_slabinfo(const std::string& path)
{
    std::ifstream in(path);
    if (!in) {
        std::fprintf(stderr, "tour: cannot read %s: %s\n", path.c_str(), std::strerror(errno));
        std::exit(1);
    }
    std::string line;
    unsigned number = 0;
    bool found = false;
    while (!found && std::getline(in, line)) {
        ++number;
        found = line == "slabinfo - version: 2.1";
    }
    if (!found) {
        std::fprintf(stderr, "tour: %s has no \"slabinfo - version: 2.1\" line\n", path.c_str());
        std::exit(1);
    }
    std::vector<Cache> caches;
    while (std::getline(in, line) && !line.empty()) {
        ++number;
        if (line[0] == '#')
            continue;
        char name[64];
        Cache cache {};
        if (std::sscanf(line.c_str(), "%63s %lu %lu %lu %lu %lu : tunables %*u %*u %*u : slabdata %lu %lu", name,
                &cache.active_objs, &cache.num_objs, &cache.objsize, &cache.objperslab, &cache.pagesperslab,
                &cache.active_slabs, &cache.num_slabs)
                != 8
            || !plausible(cache)) {
            std::fprintf(stderr, "tour: %s: line %u is not a slabinfo 2.1 cache line\n", path.c_str(), number);
            std::exit(1);
        }
        cache.name = name;
        caches.push_back(cache);
    }
    return caches;
}

void draw_caches(const std::vector<Cache>& caches, const std::string& path)
{
    constexpr double kLabelWidth = 230;
    constexpr double kSlabCell = 10;
    constexpr std::size_t kSlabsPerLine = 40;
    constexpr double kBarWidth = kSlabCell * kSlabsPerLine;
    Svg svg;
    svg.heading("the slab caches in use, largest first: each square is one slab, the bar is one slab cut into its objects");
    double y = 34;
    for (const Cache& cache : caches) {
        char label[96];
        std::snprintf(label, sizeof label, "%s (%lu B)", cache.name.c_str(), cache.objsize);
        svg.bold(0, y + 12, label);
        std::snprintf(label, sizeof label, "%lu slab%s of %lu pages", cache.num_slabs, cache.num_slabs == 1 ? "" : "s",
            cache.pagesperslab);
        svg.text(0, y + 27, label, "start", "font-size=\"11\" fill=\"#555\"");
        // The objects of one slab, in use share shaded: the cache's objects in use over all its
        // objects, as slabinfo counts them (it does not say which slab holds which).
        double used = cache.num_objs ? kBarWidth * static_cast<double>(cache.active_objs) / cache.num_objs : 0;
        svg.rect(kLabelWidth, y, kBarWidth, 16, colors::kFree, colors::kInk);
        svg.rect(kLabelWidth, y, used, 16, colors::kAnon);
        if (cache.objperslab <= 64) {
            for (unsigned long object = 1; object < cache.objperslab; ++object) {
                double x = kLabelWidth + kBarWidth * static_cast<double>(object) / cache.objperslab;
                svg.line(x, y, x, y + 16, "#ffffff");
            }
        }
        std::snprintf(label, sizeof label, "%lu of %lu objects in use, %lu per slab, %.0f KiB", cache.active_objs,
            cache.num_objs, cache.objperslab, static_cast<double>(cache.bytes()) / 1024);
        svg.text(kLabelWidth + kBarWidth + 12, y + 12, label);
        double slab_y = y + 22;
        for (unsigned long slab = 0; slab < cache.num_slabs; ++slab) {
            double x = kLabelWidth + static_cast<double>(slab % kSlabsPerLine) * kSlabCell;
            double row_y = slab_y + static_cast<double>(slab / kSlabsPerLine) * kSlabCell;
            svg.rect(x + 1, row_y + 1, kSlabCell - 2, kSlabCell - 2, slab < cache.active_slabs ? colors::kAnonLight : colors::kFree);
        }
        y = slab_y + static_cast<double>((cache.num_slabs + kSlabsPerLine - 1) / kSlabsPerLine) * kSlabCell + 14;
    }
    svg.text(0, y + 4, "Light blue square: a slab with objects in use; grey: an empty slab kept for the next allocation. "
                       "White lines: object boundaries (for up to 64 objects a slab).");
    svg.write(path);
}
} // namespace

int slab_chapter(const Options& options)
{
    if (options.slabinfo.empty()) {
        std::fprintf(stderr, "tour: the slab chapter reads a slabinfo text: --slabinfo FILE\n");
        return 2;
    }
    std::vector<Cache> caches = parse_slabinfo(options.slabinfo);
    std::erase_if(caches, [](const Cache& cache) { return cache.num_slabs == 0; });
    std::stable_sort(caches.begin(), caches.end(), [](const Cache& a, const Cache& b) { return a.bytes() > b.bytes(); });
    unsigned long total = 0;
    unsigned long in_use = 0;
    std::printf("%-16s %8s %8s %8s %6s %9s\n", "# cache", "objsize", "active", "objects", "slabs", "KiB");
    for (const Cache& cache : caches) {
        std::printf("%-16s %8lu %8lu %8lu %6lu %9lu\n", cache.name.c_str(), cache.objsize, cache.active_objs,
            cache.num_objs, cache.num_slabs, cache.bytes() / 1024);
        total += cache.bytes();
        in_use += cache.active_objs * cache.objsize;
    }
    std::printf("%zu caches with slabs: %lu KiB of slabs, %lu KiB of objects in use (%.0f%%)\n", caches.size(),
        total / 1024, in_use / 1024, total ? 100.0 * static_cast<double>(in_use) / static_cast<double>(total) : 0.0);
    if (!options.svg.empty())
        draw_caches(caches, options.svg);
    return 0;
}

} // namespace vmemu::tour
