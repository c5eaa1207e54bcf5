#pragma once
#include <string>
#include <array>
#include <atomic>
#include <cstdint>

namespace vmemu {

// The counters of a Machine, named as in /proc/vmstat. Gauges (nr_*) go up and down; events
// only go up. nr_free_pages is not stored: the buddy allocator knows it.
enum class VmStatItem : unsigned {
    NrAnonPages,
    NrPageTablePages,
    NrZeroPageMappings,
    NrKernelMappings,
    NrWriteback,
    NrMlock,
    NrFilePages,
    NrMapped,
    NrDirty,
    NrSlabReclaimable,
    NrDirtied,
    NrWritten,
    PgAllocNormal,
    PgFree,
    PgPgIn,
    PgPgOut,
    PgFault,
    PgMajFault,
    PgFaultZeroPage,
    PgFaultZeroPageRaced, // zero pages another thread wrote as they were mapped (userfaultfd view)
    PgFaultAround,
    PgFaultSpurious,
    PgFaultMapLimit,
    PgReuse,
    CowFault,
    KernelMappingEvict,
    PswpIn,
    PswpOut,
    PgScanKswapd,
    PgScanDirect,
    PgStealKswapd,
    PgStealDirect,
    PgActivate,
    PgDeactivate,
    PgRefill,
    WorkingsetRefaultAnon,
    WorkingsetActivateAnon,
    WorkingsetRefaultFile,
    WorkingsetActivateFile,
    SwapRa,
    SwapRaHit,
    OomKill,
    UnevictablePgsMlocked,
    UnevictablePgsMunlocked,
    SwapWriteError,
    SwapReadError,
    FileReadError,
    FileWriteError,
    SegvMapErr,
    SegvAccErr,
    SyscallDiverted,       // system calls Syscall User Dispatch brought to vmemu's SIGSYS handler
    SyscallDivertedPinned, // of them, those with memory in the reservation, pinned for the call
    Count,
};

// Locking: none; relaxed atomics, read without a snapshot, as /proc/vmstat is.
class VmStat {
public:
    static constexpr unsigned kItems = static_cast<unsigned>(VmStatItem::Count);

    void add(VmStatItem item, std::int64_t delta) { slot(item).fetch_add(delta, std::memory_order_relaxed); }
    void inc(VmStatItem item) { add(item, 1); }
    void dec(VmStatItem item) { add(item, -1); }
    std::int64_t value(VmStatItem item) const { return m_values[index(item)].load(std::memory_order_relaxed); }
    static const char* name(VmStatItem item);

private:
    static constexpr unsigned index(VmStatItem item) { return static_cast<unsigned>(item); }
    std::atomic<std::int64_t>& slot(VmStatItem item) { return m_values[index(item)]; }
    std::array<std::atomic<std::int64_t>, kItems> m_values {};
};

// The gauges and counters of one moment, as /proc/vmstat shows them: the free frames, the
// LRU lists (inactive_anon, active_anon, inactive_file, active_file, unevictable), the swap
// cache, then every VmStatItem.
struct VmStatSnapshot {
    std::uint64_t free_frames { 0 };
    std::uint64_t lru[5] {};
    std::uint64_t swap_cache { 0 };
    std::int64_t items[VmStat::kItems] {};
};

// /proc/vmstat's text: one "name value" line each.
std::string format_vmstat(const VmStatSnapshot& snapshot);

} // namespace vmemu
