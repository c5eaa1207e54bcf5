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
    VirtAddr run_start;
    VirtAddr run_end;
    auto flush = [&]() VM_REQUIRES(m_page_table_lock) {
        if (run_end > run_start)
            (void)unmap_hardware_range_locked(run_start, run_end);
        run_start = run_end = VirtAddr();
    };
    // The walk calls back under this function's page_table_lock, which the analysis cannot
    // see through the template.
    m_page_table.for_each_slot(m_reservation_start, m_reservation_end,
        [&](VirtAddr address, PageTable::Entry& slot) VM_NO_THREAD_SAFETY_ANALYSIS {
        Pte pte(slot.load(std::memory_order_relaxed));
        bool droppable = pte.hw_mapped()
            && (view_of(pte).capabilities().holds_bytes || m_machine.arena().is_zero_pfn(pte.pfn())
                || m_machine.arena().frame(pte.pfn()).pincount.load(std::memory_order_acquire) == 0);
        if (!droppable || (run_end > run_start && address != run_end)) {
            flush();
            if (!droppable)
                return;
        }
        if (run_end == run_start)
            run_start = address;
        run_end = address.offset(kPageSize);
    });
    flush();
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
