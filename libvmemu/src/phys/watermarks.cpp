#include <algorithm>
#include <cmath>
#include <vmemu/base/page.hpp>
#include <vmemu/phys/watermarks.hpp>

namespace vmemu {

std::size_t Watermarks::min_free_kbytes(std::size_t managed_pages)
{
    std::size_t kbytes = managed_pages * (kPageSize / 1024);
    auto value = static_cast<std::size_t>(std::sqrt(static_cast<double>(kbytes) * 16.0));
    return std::clamp<std::size_t>(value, 128, 262144);
}

Watermarks Watermarks::for_managed_pages(std::size_t managed_pages, unsigned watermark_scale_factor)
{
    Watermarks marks;
    marks.min = min_free_kbytes(managed_pages) / (kPageSize / 1024);
    std::size_t step = std::max(marks.min / 4, managed_pages * watermark_scale_factor / 10000);
    marks.low = marks.min + step;
    marks.high = marks.low + step;
    return marks;
}

} // namespace vmemu
