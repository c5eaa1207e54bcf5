#pragma once
#include <atomic>
#include <cstdint>
#include <vmemu/base/virt_addr.hpp>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/os/memory.hpp>
#include <vmemu/phys/frame_arena.hpp>
#include <vmemu/stats/vm_stat.hpp>

namespace vmemu {

// How many real kernel mappings (VMAs of the process) a Machine's hardware views may use.
// Every run of pages mapped at consecutive memfd offsets with one protection is one kernel
// VMA, and so is every PROT_NONE gap between runs; vm.max_map_count caps the total. The
// callers compute each change's exact effect on the count, and a change that would pass the
// limit is refused up front, so vmemu never runs into the kernel's ENOMEM blindly.
// Locking: lock-free; charges are atomic.
class KernelMapBudget {
public:
    explicit KernelMapBudget(std::size_t limit)
        : m_limit(static_cast<std::int64_t>(limit))
    {
    }
    // Adds delta; refuses (and changes nothing) if a growth would pass the limit.
    bool try_charge(std::int64_t delta);
    // Adds delta unconditionally; for changes that take access away, which must happen.
    void charge(std::int64_t delta) { m_used.fetch_add(delta, std::memory_order_relaxed); }
    std::int64_t used() const { return m_used.load(std::memory_order_relaxed); }
    std::int64_t limit() const { return m_limit; }

private:
    std::int64_t m_limit;
    std::atomic<std::int64_t> m_used { 0 };
};

// The hardware view of one address space: the real kernel's mappings of its reservation,
// which vmemu keeps equal to or more restrictive than the emulated PTEs.
// Locking: callers hold the address space's page_table_lock, so that the PTE bits that record
// the hardware view change together with it.
class Mmu {
public:
    enum class MapOutcome : std::uint8_t { Mapped, OverBudget, KernelRefused };

    Mmu(const FrameArena& arena, KernelMapBudget& budget, VmStat& stat)
        : m_arena(arena)
        , m_budget(budget)
        , m_stat(stat)
    {
    }

    // Maps [start, start + count pages) to frames [first, first + count), populated. OverBudget,
    // without a system call, when the kernel-mapping budget cannot take mapping_delta.
    MapOutcome map(VirtAddr start, Pfn first, std::size_t count, os::HwProt prot, std::int64_t mapping_delta);
    // Puts [start, start + count pages) back to PROT_NONE reservation.
    VmResult<void> unmap(VirtAddr start, std::size_t count, std::int64_t mapping_delta);
    // Charges the reservation itself (one kernel mapping) or releases it.
    void charge_reservation(std::int64_t delta);

private:
    const FrameArena& m_arena;
    KernelMapBudget& m_budget;
    VmStat& m_stat;
};

} // namespace vmemu
