// The events' names and field formats. Where the kernel has the event, its fields are the
// kernel's TP_printk() (include/trace/events/kmem.h, vmscan.h, filemap.h); vmemu's own events
// (the fault's exit, swap I/O, the samples) are written in the same style.
#include <cinttypes>
#include <iterator>
#include <string>
#include <string_view>
#include <sys/sysmacros.h>
#include <vmemu/trace/frame_state.hpp>
#include "event_format.hpp"

namespace vmemu::trace {

namespace {
struct EventInfo {
    const char* subsystem;
    const char* name;
};
constexpr EventInfo kEvents[] = {
    { "exceptions", "page_fault_user" },
    { "vmemu", "page_fault_exit" },
    { "kmem", "mm_page_alloc" },
    { "kmem", "mm_page_free" },
    { "vmscan", "mm_vmscan_kswapd_wake" },
    { "vmscan", "mm_vmscan_kswapd_sleep" },
    { "vmscan", "mm_vmscan_direct_reclaim_begin" },
    { "vmscan", "mm_vmscan_direct_reclaim_end" },
    { "vmscan", "mm_vmscan_lru_isolate" },
    { "vmscan", "mm_vmscan_lru_shrink_inactive" },
    { "vmscan", "mm_vmscan_lru_shrink_active" },
    { "vmscan", "mm_vmscan_write_folio" },
    { "vmemu", "swap_read_folio" },
    { "vmemu", "swap_write_end" },
    { "filemap", "mm_filemap_add_to_page_cache" },
    { "filemap", "mm_filemap_delete_from_page_cache" },
    { "vmemu", "swap_io_start" },
    { "vmemu", "swap_io_done" },
    { "vmemu", "zone_sample" },
    { "vmemu", "lru_sample" },
    { "vmemu", "vm_event_sample" },
    { "vmemu", "frame_state" },
};
static_assert(std::size(kEvents) == kEventKinds);
} // namespace

const char* event_name(Event event) { return kEvents[static_cast<unsigned>(event)].name; }

VmResult<void> set_event_filter(const char* list)
{
    if (list == nullptr)
        return vm_fail(EINVAL, "no trace event list");
    std::string_view rest(list);
    if (rest.empty() || rest == "all") {
        detail::g_event_mask.store(~std::uint64_t { 0 }, std::memory_order_relaxed);
        return {};
    }
    std::uint64_t mask = 0;
    // Every item between commas names something: "kmem," and "kmem,,vmscan" are refused.
    for (bool last = false; !last;) {
        std::size_t comma = rest.find(',');
        last = comma == std::string_view::npos;
        std::string_view item = rest.substr(0, comma);
        rest.remove_prefix(last ? rest.size() : comma + 1);
        std::size_t colon = item.find(':');
        std::uint64_t matched = 0;
        for (unsigned event = 0; event < kEventKinds; ++event) {
            const EventInfo& info = kEvents[event];
            // "name" or "subsystem"; "subsystem:name" or "subsystem:*".
            bool match = colon == std::string_view::npos
                ? info.name == item || info.subsystem == item
                : info.subsystem == item.substr(0, colon)
                    && (item.substr(colon + 1) == "*" || info.name == item.substr(colon + 1));
            if (match)
                matched |= std::uint64_t { 1 } << event;
        }
        if (!matched)
            return vm_fail(EINVAL, "unknown trace event");
        mask |= matched;
    }
    detail::g_event_mask.store(mask, std::memory_order_relaxed);
    return {};
}

std::string known_event_names()
{
    std::string names;
    for (const EventInfo& info : kEvents)
        names += std::string(names.empty() ? "" : " ") + info.subsystem + ":" + info.name;
    return names;
}
const char* event_subsystem(Event event) { return kEvents[static_cast<unsigned>(event)].subsystem; }

const char* fault_type_name(std::uint64_t type)
{
    switch (static_cast<FaultType>(type)) {
    case FaultType::Anonymous: return "anon";
    case FaultType::ZeroPage: return "zero";
    case FaultType::Cow: return "cow";
    case FaultType::Minor: return "minor";
    case FaultType::Major: return "major";
    case FaultType::Hinting: return "hinting";
    case FaultType::Error: return "error";
    }
    return "unknown";
}

namespace {
const char* lru_name(std::uint64_t lru)
{
    static constexpr const char* kNames[] = { "inactive_anon", "active_anon", "inactive_file", "active_file",
        "unevictable" };
    return lru < 5 ? kNames[lru] : "unknown";
}

} // namespace

void print_fields(std::FILE* out, const Record& record)
{
    const std::uint64_t* a = record.args;
    switch (static_cast<Event>(record.event)) {
    case Event::PageFaultUser:
        std::fprintf(out, "address=0x%" PRIx64 " ip=0x%" PRIx64 " error_code=0x%" PRIx64, a[0], a[1],
            a[2]);
        break;
    case Event::PageFaultExit:
        std::fprintf(out, "address=0x%" PRIx64 " type=%s latency_ns=%" PRIu64, a[0],
            fault_type_name(a[1]), a[2]);
        break;
    case Event::MmPageAlloc:
        std::fprintf(out, "page=0x%" PRIx64 " pfn=0x%" PRIx64 " order=%d migratetype=1 gfp_flags=%s",
            a[0], a[1], static_cast<int>(a[2]), a[3] ? "GFP_HIGHUSER_MOVABLE|__GFP_ZERO" : "GFP_HIGHUSER_MOVABLE");
        break;
    case Event::MmPageFree:
        std::fprintf(out, "page=0x%" PRIx64 " pfn=0x%" PRIx64 " order=%d", a[0], a[1],
            static_cast<int>(a[2]));
        break;
    case Event::KswapdWake:
        std::fprintf(out, "nid=0 order=0");
        break;
    case Event::KswapdSleep:
        std::fprintf(out, "nid=0");
        break;
    case Event::DirectReclaimBegin:
        std::fprintf(out, "order=%d gfp_flags=GFP_HIGHUSER_MOVABLE",
            static_cast<int>(a[0]));
        break;
    case Event::DirectReclaimEnd:
        std::fprintf(out, "nr_reclaimed=%" PRIu64, a[0]);
        break;
    case Event::LruIsolate:
        std::fprintf(out,
            "classzone=0 order=0 nr_requested=%" PRIu64 " nr_scanned=%" PRIu64
            " nr_skipped=0 nr_taken=%" PRIu64 " lru=%s",
            a[0], a[1], a[2], lru_name(a[3]));
        break;
    case Event::LruShrinkInactive:
        std::fprintf(out,
            "nid=0 nr_scanned=%" PRIu64 " nr_reclaimed=%" PRIu64
            " nr_dirty=0 nr_writeback=%" PRIu64 " nr_congested=0 nr_immediate=0 nr_activate_anon=%" PRIu64
            " nr_activate_file=0 nr_ref_keep=0 nr_unmap_fail=%" PRIu64 " priority=12 flags=RECLAIM_WB_ANON|RECLAIM_WB_ASYNC",
            a[0], a[1], a[2], a[3], a[4]);
        break;
    case Event::LruShrinkActive:
        std::fprintf(out,
            "nid=0 nr_taken=%" PRIu64 " nr_active=%" PRIu64 " nr_deactivated=%" PRIu64
            " nr_referenced=%" PRIu64 " priority=12 flags=RECLAIM_WB_ANON|RECLAIM_WB_ASYNC",
            a[0], a[1], a[2], a[3]);
        break;
    case Event::WriteFolio:
        std::fprintf(out, "page=0x%" PRIx64 " pfn=0x%" PRIx64
                          " flags=RECLAIM_WB_ANON|RECLAIM_WB_ASYNC", a[0], a[1]);
        break;
    case Event::SwapReadFolio:
        std::fprintf(out, "pfn=0x%" PRIx64 " offset=%" PRIu64 " synchronous=%d", a[0], a[1],
            static_cast<int>(a[2]));
        break;
    case Event::SwapWriteDone:
        std::fprintf(out, "pfn=0x%" PRIx64 " result=%d", a[0],
            static_cast<int>(static_cast<std::int64_t>(a[1])));
        break;
    case Event::FilemapAddToPageCache:
    case Event::FilemapDeleteFromPageCache:
        // include/trace/events/filemap.h: (pfn, index, dev, ino) recorded.
        std::fprintf(out, "dev %u:%u ino %" PRIx64 " pfn=0x%" PRIx64 " ofs=%" PRIu64 " order=0",
            major(static_cast<dev_t>(a[2])), minor(static_cast<dev_t>(a[2])), a[3], a[0], a[1] << 12);
        break;
    case Event::SwapIoStart:
        std::fprintf(out, "pfn=0x%" PRIx64 " offset=%" PRIu64 " rw=%c", a[0], a[1], a[2] ? 'W' : 'R');
        break;
    case Event::SwapIoDone:
        std::fprintf(out, "pfn=0x%" PRIx64 " rw=%c result=%d latency_ns=%" PRIu64, a[0], a[1] ? 'W' : 'R',
            static_cast<int>(static_cast<std::int64_t>(a[2])), a[3]);
        break;
    case Event::ZoneSample:
        std::fprintf(out, "nr_free_pages=%" PRIu64 " min=%" PRIu64 " low=%" PRIu64 " high=%" PRIu64
                          " nr_swapcache=%" PRIu64, a[0], a[1], a[2], a[3], a[4]);
        break;
    case Event::LruSample:
        std::fprintf(out, "nr_inactive_anon=%" PRIu64 " nr_active_anon=%" PRIu64 " nr_inactive_file=%" PRIu64
                          " nr_active_file=%" PRIu64 " nr_unevictable=%" PRIu64, a[0], a[1], a[2], a[3], a[4]);
        break;
    case Event::VmEventSample:
        std::fprintf(out, "pswpin=%" PRIu64 " pswpout=%" PRIu64 " pgpgin=%" PRIu64 " pgpgout=%" PRIu64
                          " pgmajfault=%" PRIu64, a[0], a[1], a[2], a[3], a[4]);
        break;
    case Event::FrameState:
        std::fprintf(out, "pfn=0x%" PRIx64 " nr_pages=%" PRIu64 " state=%s", a[0], a[1], frame_state_name(a[2]));
        break;
    case Event::Count:
        break;
    }
}


} // namespace vmemu::trace
