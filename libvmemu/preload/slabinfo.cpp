// Kmalloc::slabinfo(): the heap's slab caches in the format of /proc/slabinfo (mm/slab_common.c,
// cache_show()), which slabtop reads.
#include <cstdio>
#include "kmalloc.hpp"
#include "libc_heap.hpp"
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu::preload {

namespace {
// kmalloc-96, kmalloc-1k, kmalloc-1536: the kernel's names, in k where the size is whole k.
std::string cache_name(std::uint32_t size)
{
    char name[32];
    if (size >= 1024 && size % 1024 == 0)
        std::snprintf(name, sizeof name, "kmalloc-%uk", size / 1024);
    else
        std::snprintf(name, sizeof name, "kmalloc-%u", size);
    return name;
}
} // namespace

std::string Kmalloc::slabinfo() const
{
    struct Totals {
        unsigned long active_objs { 0 };
        unsigned long active_slabs { 0 };
        unsigned long slabs { 0 };
    };
    std::array<Totals, kClassSizes.size()> totals {};
    std::array<Cache, kClassSizes.size()> caches;
    {
        ScopedLock guard(m_lock);
        caches = m_caches;
        for (std::uint32_t index = 0; index < m_next_fresh_slab; ++index) {
            const Slab& slab = m_slab_table[index];
            if (slab.discarded)
                continue;
            Totals& total = totals[slab.cache];
            ++total.slabs;
            total.active_slabs += slab.inuse > 0;
            total.active_objs += slab.inuse;
        }
    }
    ScopedLibcAllocations libc_allocations;
    std::string out = "slabinfo - version: 2.1\n"
                      "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
                      " : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs>"
                      " <sharedavail>\n";
    for (std::size_t c = kClassSizes.size(); c-- > 0;) {
        const Cache& cache = caches[c];
        const Totals& total = totals[c];
        char line[256];
        std::snprintf(line, sizeof line,
            "%-17s %6lu %6lu %6u %4u %4u : tunables %4u %4u %4u : slabdata %6lu %6lu %6lu\n",
            cache_name(cache.size).c_str(), total.active_objs, total.slabs * cache.objects, cache.size,
            cache.objects, static_cast<unsigned>(kSlabBytes / 4096), 0u, 0u, 0u, total.active_slabs, total.slabs,
            0ul);
        out += line;
    }
    return out;
}

} // namespace vmemu::preload
