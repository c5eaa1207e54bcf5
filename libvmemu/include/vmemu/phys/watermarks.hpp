#pragma once
#include <cstddef>

namespace vmemu {

// The zone watermarks of mm/page_alloc.c, in pages. Reclaim (kswapd) wakes below low and
// works up to high; an allocation that would go below min reclaims directly.
struct Watermarks {
    std::size_t min { 0 };
    std::size_t low { 0 };
    std::size_t high { 0 };

    // As init_per_zone_wmark_min() and __setup_per_zone_wmarks() derive them for one zone of
    // managed_pages pages: min_free_kbytes = sqrt(16 * kbytes) clamped to [128, 262144], and
    // low and high each add max(min / 4, managed_pages * watermark_scale_factor / 10000).
    static Watermarks for_managed_pages(std::size_t managed_pages, unsigned watermark_scale_factor = 10);
    static std::size_t min_free_kbytes(std::size_t managed_pages);
};

} // namespace vmemu
