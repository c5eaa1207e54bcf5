// An address space's part in fork(2) of the process (Machine::prepare_fork() and
// fork_child()). The child inherits the page table and the VMAs, which live in memory fork()
// copies, but not the reservation (MADV_DONTFORK): the hardware view is the parent's, mapping
// the parent's frames MAP_SHARED, and a child that kept it would write into its parent.
#include <vmemu/address_space.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/memory.hpp>

namespace vmemu {

void AddressSpace::drop_hardware_view_locked()
{
    // Runs of mapped pages, each ended by an unmapped or a pinned page: a pinned page stays,
    // since a system call in another thread may be using it now.
    auto droppable = [&](Pte pte) {
        return pte.hw_mapped()
            && (view_of(pte).capabilities().holds_bytes || m_machine.arena().is_zero_pfn(pte.pfn())
                || m_machine.arena().frame(pte.pfn()).pincount.load(std::memory_order_acquire) == 0);
    };
    // The walk calls back under this function's page_table_lock, which the analysis cannot
    // see through the template.
    m_page_table.for_each_run(m_reservation_start, m_reservation_end, droppable,
        [&](VirtAddr start, VirtAddr end) VM_NO_THREAD_SAFETY_ANALYSIS {
        (void)unmap_hardware_range_locked(start, end);
    });
}

VmResult<void> AddressSpace::adopt_in_child()
{
    VM_TRY(os::reserve_at(m_reservation_start, m_reservation_end - m_reservation_start));
    // A view that follows VMAs gets their protections back (the fault source registers the
    // reservation again).
    sync_kernel_protection_locked(m_reservation_start, m_reservation_end);
    m_page_table.for_each_slot(m_reservation_start, m_reservation_end, [](VirtAddr, PageTable::Entry& slot) {
        slot.fetch_and(~Pte::kHwBits, std::memory_order_relaxed);
    });
    m_memfd_view.forget_mappings();
    if (m_userfault_view)
        m_userfault_view->forget_mappings();
    return {};
}

} // namespace vmemu
