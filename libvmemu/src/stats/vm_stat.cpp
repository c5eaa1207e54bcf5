#include <vmemu/stats/vm_stat.hpp>
#include "text_format.hpp"

namespace vmemu {

const char* VmStat::name(VmStatItem item)
{
    switch (item) {
    case VmStatItem::NrAnonPages: return "nr_anon_pages";
    case VmStatItem::NrPageTablePages: return "nr_page_table_pages";
    case VmStatItem::NrZeroPageMappings: return "nr_zero_page_mappings";
    case VmStatItem::NrKernelMappings: return "nr_kernel_mappings";
    case VmStatItem::NrWriteback: return "nr_writeback";
    case VmStatItem::NrMlock: return "nr_mlock";
    case VmStatItem::NrFilePages: return "nr_file_pages";
    case VmStatItem::NrMapped: return "nr_mapped";
    case VmStatItem::NrDirty: return "nr_dirty";
    case VmStatItem::NrSlabReclaimable: return "nr_slab_reclaimable";
    case VmStatItem::NrDirtied: return "nr_dirtied";
    case VmStatItem::NrWritten: return "nr_written";
    case VmStatItem::PgAllocNormal: return "pgalloc_normal";
    case VmStatItem::PgFree: return "pgfree";
    case VmStatItem::PgPgIn: return "pgpgin";
    case VmStatItem::PgPgOut: return "pgpgout";
    case VmStatItem::PgFault: return "pgfault";
    case VmStatItem::PgMajFault: return "pgmajfault";
    case VmStatItem::PgFaultZeroPage: return "pgfault_zero_page";
    case VmStatItem::PgFaultZeroPageRaced: return "pgfault_zero_page_raced";
    case VmStatItem::PgFaultAround: return "pgfault_around";
    case VmStatItem::PgFaultSpurious: return "pgfault_spurious";
    case VmStatItem::PgFaultMapLimit: return "pgfault_map_limit";
    case VmStatItem::PgReuse: return "pgreuse";
    case VmStatItem::CowFault: return "cow_fault";
    case VmStatItem::KernelMappingEvict: return "kernel_mapping_evict";
    case VmStatItem::PswpIn: return "pswpin";
    case VmStatItem::PswpOut: return "pswpout";
    case VmStatItem::PgScanKswapd: return "pgscan_kswapd";
    case VmStatItem::PgScanDirect: return "pgscan_direct";
    case VmStatItem::PgStealKswapd: return "pgsteal_kswapd";
    case VmStatItem::PgStealDirect: return "pgsteal_direct";
    case VmStatItem::PgActivate: return "pgactivate";
    case VmStatItem::PgDeactivate: return "pgdeactivate";
    case VmStatItem::PgRefill: return "pgrefill";
    case VmStatItem::WorkingsetRefaultAnon: return "workingset_refault_anon";
    case VmStatItem::WorkingsetActivateAnon: return "workingset_activate_anon";
    case VmStatItem::WorkingsetRefaultFile: return "workingset_refault_file";
    case VmStatItem::WorkingsetActivateFile: return "workingset_activate_file";
    case VmStatItem::SwapRa: return "swap_ra";
    case VmStatItem::SwapRaHit: return "swap_ra_hit";
    case VmStatItem::OomKill: return "oom_kill";
    case VmStatItem::UnevictablePgsMlocked: return "unevictable_pgs_mlocked";
    case VmStatItem::UnevictablePgsMunlocked: return "unevictable_pgs_munlocked";
    case VmStatItem::SwapWriteError: return "swap_write_error";
    case VmStatItem::SwapReadError: return "swap_read_error";
    case VmStatItem::FileReadError: return "file_read_error";
    case VmStatItem::FileWriteError: return "file_write_error";
    case VmStatItem::SegvMapErr: return "segv_maperr";
    case VmStatItem::SegvAccErr: return "segv_accerr";
    case VmStatItem::SyscallDiverted: return "syscall_diverted";
    case VmStatItem::SyscallDivertedPinned: return "syscall_diverted_pinned";
    case VmStatItem::Count: break;
    }
    return "unknown";
}

std::string format_vmstat(const VmStatSnapshot& snapshot)
{
    static constexpr const char* kLruNames[5] = { "nr_inactive_anon", "nr_active_anon", "nr_inactive_file",
        "nr_active_file", "nr_unevictable" };
    std::string out;
    append_format(out, "nr_free_pages %llu\n", static_cast<unsigned long long>(snapshot.free_frames));
    for (unsigned list = 0; list < 5; ++list)
        append_format(out, "%s %llu\n", kLruNames[list], static_cast<unsigned long long>(snapshot.lru[list]));
    append_format(out, "nr_swapcached %llu\n", static_cast<unsigned long long>(snapshot.swap_cache));
    for (unsigned i = 0; i < VmStat::kItems; ++i)
        append_format(out, "%s %lld\n", VmStat::name(static_cast<VmStatItem>(i)), static_cast<long long>(snapshot.items[i]));
    return out;
}

} // namespace vmemu
