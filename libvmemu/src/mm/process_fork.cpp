// An address space's part in fork(2) of the process (Machine::prepare_fork() and
// fork_child()). The child inherits the page table and the VMAs, which live in memory fork()
// copies. Where the private view survives fork (the userfaultfd view with write protection),
// it inherits the reservation too, and with it every page that view maps, copy-on-write, as
// the kernel's fork shares anonymous memory: nothing is copied for them. Otherwise the
// reservation is MADV_DONTFORK: the memfd view maps the parent's frames MAP_SHARED, and a child
// that kept it would write into its parent.
#include <vmemu/address_space.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/memory.hpp>

namespace vmemu {

void AddressSpace::prepare_fork_locked()
{
    m_inherited_by_fork.store(private_view().capabilities().survives_fork, std::memory_order_release);
}

void AddressSpace::drop_hardware_view_locked()
{
    // Runs of mapped pages, each ended by an unmapped or a pinned page: a pinned page stays,
    // since a system call in another thread may be using it now. A page of a view that
    // survives fork stays too: the child inherits it as it is.
    auto droppable = [&](Pte pte) {
        if (!pte.hw_mapped())
            return false;
        const HwCapabilities can = view_of(pte).capabilities();
        if (can.survives_fork && inherited_by_fork())
            return false;
        return can.holds_bytes || m_machine.arena().is_zero_pfn(pte.pfn())
            || m_machine.arena().frame(pte.pfn()).pincount.load(std::memory_order_acquire) == 0;
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
    if (!inherited_by_fork()) {
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
    // The reservation is inherited, with the kernel's VMAs and the private view's pages, but
    // neither the registrations nor the write protections of the parent's userfaultfd. The
    // memfd view's pages map the parent's frames: they go first (pinned ones stayed in the
    // parent, for a system call of another thread).
    VM_TRY(m_memfd_view.unmap(m_reservation_start, m_reservation_end));
    m_memfd_view.forget_mappings();
    // Every VMA of the userfaultfd view registered with the child's own userfaultfd.
    sync_kernel_protection_locked(m_reservation_start, m_reservation_end);
    // Then the pages that were write-protected (clean copies of swapped pages, zero pages, and
    // all pages of read-only VMAs, where it costs nothing) are so again before anything runs:
    // the child's writes to them must fault, or a zero page would take the kernel's own copy
    // unseen.
    VmResult<void> result;
    m_page_table.for_each_run(m_reservation_start, m_reservation_end,
        [this](Pte pte) { return m_userfault_view->holds(pte) && !pte.hw_writable(); },
        [&](VirtAddr start, VirtAddr end) {
        if (result)
            result = m_userfault_view->write_protect(start, end);
    });
    return result;
}

} // namespace vmemu
