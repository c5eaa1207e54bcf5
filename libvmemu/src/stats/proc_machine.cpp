// Machine::meminfo(), vmstat(), buddyinfo() and zoneinfo(), in the kernel's text formats
// (fs/proc/meminfo.c, mm/vmstat.c).
#include "text_format.hpp"
#include <vmemu/machine.hpp>

namespace vmemu {

namespace {
unsigned long pages_to_kb(std::int64_t pages) { return static_cast<unsigned long>(pages < 0 ? 0 : pages) * (kPageSize / 1024); }
} // namespace

std::string Machine::meminfo() const
{
    std::string out;
    append_kb(out, "MemTotal:", pages_to_kb(static_cast<std::int64_t>(frame_count())));
    append_kb(out, "MemFree:", pages_to_kb(static_cast<std::int64_t>(free_frames())));
    // Nothing is reclaimable yet beyond free frames, so MemAvailable is MemFree.
    append_kb(out, "MemAvailable:", pages_to_kb(static_cast<std::int64_t>(free_frames())));
    append_kb(out, "AnonPages:", pages_to_kb(m_stat.value(VmStatItem::NrAnonPages)));
    append_kb(out, "PageTables:", pages_to_kb(m_stat.value(VmStatItem::NrPageTablePages)));
    return out;
}

std::string Machine::vmstat() const
{
    std::string out;
    append_format(out, "nr_free_pages %zu\n", free_frames());
    for (unsigned i = 0; i < VmStat::kItems; ++i) {
        auto item = static_cast<VmStatItem>(i);
        append_format(out, "%s %lld\n", VmStat::name(item), static_cast<long long>(m_stat.value(item)));
    }
    return out;
}

std::string Machine::buddyinfo() const
{
    std::string out;
    append_format(out, "Node %d, zone %8s ", 0, "Normal");
    for (std::size_t blocks : m_allocator.buddy().free_blocks())
        append_format(out, "%6zu ", blocks);
    out += '\n';
    return out;
}

std::string Machine::zoneinfo() const
{
    const Watermarks& marks = m_allocator.watermarks();
    std::string out;
    append_format(out, "Node %d, zone %8s", 0, "Normal");
    append_format(out,
        "\n  pages free     %zu"
        "\n        boost    %d"
        "\n        min      %zu"
        "\n        low      %zu"
        "\n        high     %zu"
        "\n        spanned  %zu"
        "\n        present  %zu"
        "\n        managed  %zu\n",
        free_frames(), 0, marks.min, marks.low, marks.high, frame_count(), frame_count(), frame_count());
    return out;
}

} // namespace vmemu
