#include <vmemu/stats/vm_stat.hpp>

namespace vmemu {

const char* VmStat::name(VmStatItem item)
{
    switch (item) {
    case VmStatItem::NrAnonPages: return "nr_anon_pages";
    case VmStatItem::NrPageTablePages: return "nr_page_table_pages";
    case VmStatItem::NrZeroPageMappings: return "nr_zero_page_mappings";
    case VmStatItem::NrKernelMappings: return "nr_kernel_mappings";
    case VmStatItem::PgAllocNormal: return "pgalloc_normal";
    case VmStatItem::PgFree: return "pgfree";
    case VmStatItem::PgFault: return "pgfault";
    case VmStatItem::PgMajFault: return "pgmajfault";
    case VmStatItem::PgFaultZeroPage: return "pgfault_zero_page";
    case VmStatItem::PgFaultAround: return "pgfault_around";
    case VmStatItem::PgFaultSpurious: return "pgfault_spurious";
    case VmStatItem::PgFaultMapLimit: return "pgfault_map_limit";
    case VmStatItem::KernelMappingEvict: return "kernel_mapping_evict";
    case VmStatItem::SegvMapErr: return "segv_maperr";
    case VmStatItem::SegvAccErr: return "segv_accerr";
    case VmStatItem::Count: break;
    }
    return "unknown";
}

} // namespace vmemu
