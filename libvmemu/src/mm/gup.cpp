// pin_user_pages() (mm/gup.c): a range faulted in and held in the kernel's view for the
// length of a system call.
#include <vmemu/address_space.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

std::size_t AddressSpace::pin_user_pages(VirtAddr start, std::size_t length, bool write, PageFrame** pages)
{
    if (length == 0 || start.get() + length < start.get())
        return 0;
    VirtAddr first = start.page_base();
    VirtAddr end(page_round_up(start.get() + length));
    FaultAccess access = write ? FaultAccess::Write : FaultAccess::Read;
    std::size_t pinned = 0;
    for (VirtAddr address = first; address < end; address = address.offset(kPageSize)) {
        // follow_page(), and handle_mm_fault() until the page is there as the call needs it.
        for (int attempt = 0;; ++attempt) {
            {
                SharedLock guard(m_mmap_lock);
                ScopedLock ptl(m_page_table_lock);
                Pte pte = m_page_table.lookup(address);
                bool ready = pte.present() && pte.hw_mapped() && (!write || (pte.writable() && pte.hw_writable()))
                    && !m_machine.arena().is_zero_pfn(pte.pfn());
                if (ready) {
                    PageFrame& page = m_machine.arena().frame(pte.pfn());
                    page.refcount.fetch_add(1, std::memory_order_acq_rel);
                    page.pincount.fetch_add(1, std::memory_order_acq_rel);
                    pages[pinned++] = &page;
                    break;
                }
            }
            // A read of a page never written maps the zero page, which cannot be pinned: fault
            // it in for writing then, as FOLL_PIN does with FOLL_FORCE semantics of a fresh page.
            FaultAccess fault = access;
            if (!write && attempt > 0)
                fault = FaultAccess::Write;
            if (handle_mm_fault(address, fault) != FaultResult::Handled || attempt == 16)
                return pinned;
        }
    }
    return pinned;
}

void AddressSpace::unpin_user_pages(PageFrame** pages, std::size_t count)
{
    for (std::size_t i = 0; i < count; ++i) {
        pages[i]->pincount.fetch_sub(1, std::memory_order_acq_rel);
        m_machine.put_page(*pages[i]);
    }
}

} // namespace vmemu
