#include <vmemu/fault/mmu.hpp>

namespace vmemu {

bool KernelMapBudget::try_charge(std::int64_t delta)
{
    if (delta <= 0) {
        charge(delta);
        return true;
    }
    std::int64_t used = m_used.load(std::memory_order_relaxed);
    do {
        if (used + delta > m_limit)
            return false;
    } while (!m_used.compare_exchange_weak(used, used + delta, std::memory_order_relaxed));
    return true;
}

Mmu::MapOutcome Mmu::map(VirtAddr start, Pfn first, std::size_t count, os::HwProt prot, std::int64_t mapping_delta)
{
    if (!m_budget.try_charge(mapping_delta))
        return MapOutcome::OverBudget;
    auto result = os::map_fixed_shared(start, count << kPageShift, prot, m_arena.fd(), m_arena.file_offset(first),
        os::Populate::Yes);
    if (!result) {
        m_budget.charge(-mapping_delta);
        return MapOutcome::KernelRefused;
    }
    m_stat.add(VmStatItem::NrKernelMappings, mapping_delta);
    return MapOutcome::Mapped;
}

VmResult<void> Mmu::unmap(VirtAddr start, std::size_t count, std::int64_t mapping_delta)
{
    auto result = os::map_fixed_reserved(start, count << kPageShift);
    if (!result)
        return result;
    m_budget.charge(mapping_delta);
    m_stat.add(VmStatItem::NrKernelMappings, mapping_delta);
    return {};
}

void Mmu::charge_reservation(std::int64_t delta)
{
    m_budget.charge(delta);
    m_stat.add(VmStatItem::NrKernelMappings, delta);
}

} // namespace vmemu
