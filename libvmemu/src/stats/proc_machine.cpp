// Machine::meminfo(), vmstat(), buddyinfo() and zoneinfo(), in the kernel's text formats
// (fs/proc/meminfo.c, mm/vmstat.c).
#include "text_format.hpp"
#include <algorithm>
#include <vmemu/machine.hpp>

namespace vmemu {

namespace {
unsigned long pages_to_kb(std::int64_t pages) { return static_cast<unsigned long>(pages < 0 ? 0 : pages) * (kPageSize / 1024); }
} // namespace

std::string Machine::meminfo() const
{
    std::string out;
    auto lru = [&](LruList list) { return static_cast<std::int64_t>(m_lruvec.size(list)); };
    std::int64_t swap_total = m_swap ? m_swap->device().slots().total_slots() : 0;
    std::int64_t swap_free = m_swap ? m_swap->device().slots().nr_free() : 0;
    append_kb(out, "MemTotal:", pages_to_kb(static_cast<std::int64_t>(frame_count())));
    append_kb(out, "MemFree:", pages_to_kb(static_cast<std::int64_t>(free_frames())));
    // si_mem_available(): free frames, and the page cache that reclaim could drop, less what
    // the kernel keeps (half of it, or the low watermark) as Linux estimates it.
    std::int64_t file = lru(LruList::ActiveFile) + lru(LruList::InactiveFile);
    std::int64_t low = static_cast<std::int64_t>(m_allocator.watermarks().low);
    std::int64_t available = static_cast<std::int64_t>(free_frames()) - low + file - std::min(file / 2, low);
    append_kb(out, "MemAvailable:", pages_to_kb(available));
    append_kb(out, "Buffers:", 0);
    append_kb(out, "Cached:", pages_to_kb(m_stat.value(VmStatItem::NrFilePages)));
    append_kb(out, "SwapCached:", pages_to_kb(m_swap ? static_cast<std::int64_t>(m_swap->cache().pages()) : 0));
    append_kb(out, "Active:", pages_to_kb(lru(LruList::ActiveAnon) + lru(LruList::ActiveFile)));
    append_kb(out, "Inactive:", pages_to_kb(lru(LruList::InactiveAnon) + lru(LruList::InactiveFile)));
    append_kb(out, "Active(anon):", pages_to_kb(lru(LruList::ActiveAnon)));
    append_kb(out, "Inactive(anon):", pages_to_kb(lru(LruList::InactiveAnon)));
    append_kb(out, "Active(file):", pages_to_kb(lru(LruList::ActiveFile)));
    append_kb(out, "Inactive(file):", pages_to_kb(lru(LruList::InactiveFile)));
    append_kb(out, "Unevictable:", pages_to_kb(lru(LruList::Unevictable)));
    append_kb(out, "Mlocked:", pages_to_kb(m_stat.value(VmStatItem::NrMlock)));
    append_kb(out, "SwapTotal:", pages_to_kb(swap_total));
    append_kb(out, "SwapFree:", pages_to_kb(swap_free));
    append_kb(out, "Dirty:", pages_to_kb(m_stat.value(VmStatItem::NrDirty)));
    append_kb(out, "Writeback:", pages_to_kb(m_stat.value(VmStatItem::NrWriteback)));
    append_kb(out, "AnonPages:", pages_to_kb(m_stat.value(VmStatItem::NrAnonPages)));
    append_kb(out, "Mapped:", pages_to_kb(m_stat.value(VmStatItem::NrMapped)));
    append_kb(out, "SReclaimable:", pages_to_kb(m_stat.value(VmStatItem::NrSlabReclaimable)));
    append_kb(out, "PageTables:", pages_to_kb(m_stat.value(VmStatItem::NrPageTablePages)));
    return out;
}

std::string Machine::vmstat() const
{
    VmStatSnapshot snapshot;
    snapshot.free_frames = free_frames();
    for (unsigned list = 0; list < 5; ++list)
        snapshot.lru[list] = m_lruvec.size(static_cast<LruList>(list));
    snapshot.swap_cache = m_swap ? m_swap->cache().pages() : 0;
    for (unsigned i = 0; i < VmStat::kItems; ++i)
        snapshot.items[i] = m_stat.value(static_cast<VmStatItem>(i));
    return format_vmstat(snapshot);
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

std::string Machine::swaps() const
{
    std::string out = SwapDevice::swaps_heading();
    if (m_swap)
        out += m_swap->device().swaps_line();
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
