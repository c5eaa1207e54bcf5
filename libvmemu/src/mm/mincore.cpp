// mincore(2) (mm/mincore.c) on an AddressSpace: which pages of a range are in memory.
#include <vmemu/address_space.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

VmResult<void> AddressSpace::mincore(VirtAddr address, std::size_t length, unsigned char* vec) const
{
    if (!address.is_page_aligned())
        return vm_fail(EINVAL, "mincore: address is not page-aligned");
    std::uintptr_t size = page_round_up(length);
    if ((length != 0 && size == 0) || address.get() + size < address.get())
        return vm_fail(ENOMEM, "mincore: range overflows");
    if (length == 0)
        return {};
    if (!in_reservation_range(address, size))
        return vm_fail(ENOMEM, "mincore: range is not mapped");
    VirtAddr end = address.offset(size);
    os::ScopedAsyncSignalBlock signals;
    SharedLock guard(m_mmap_lock);
    if (!range_fully_mapped_locked(address, end))
        return vm_fail(ENOMEM, "mincore: range is not mapped");
    const SwapState* swap = m_machine.swap();
    std::size_t index = 0;
    for (VirtAddr page = address; page < end; page = page.offset(kPageSize), ++index) {
        // mincore_pte_range(): a present PTE is in memory; a swapped page is while its copy
        // is still in the swap cache.
        Pte pte = m_page_table.lookup(page);
        bool resident = pte.present();
        if (pte.is_swap() && swap)
            resident = swap->cache().lookup(pte.swap_entry().offset()).has_value();
        vec[index] = resident ? 1 : 0;
    }
    return {};
}

} // namespace vmemu
