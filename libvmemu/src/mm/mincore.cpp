// mincore(2) (mm/mincore.c) on an AddressSpace: which pages of a range are in memory.
#include <algorithm>
#include <cstring>
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
    if (vec == nullptr)
        return vm_fail(EFAULT, "mincore: vec is not a valid address");
    // As Linux's do_mincore(): a chunk of the answer is gathered under the mmap_lock into a
    // buffer of vmemu's own, and copied out after it. vec may be emulated memory, whose fault
    // takes the mmap_lock.
    constexpr std::size_t kChunkPages = 512;
    unsigned char chunk[kChunkPages];
    VirtAddr end = address.offset(size);
    for (VirtAddr from = address; from < end;) {
        VirtAddr to = std::min(end, from.offset(kChunkPages * kPageSize));
        {
            os::ScopedAsyncSignalBlock signals;
            SharedLock guard(m_mmap_lock);
            if (!range_fully_mapped_locked(from, to))
                return vm_fail(ENOMEM, "mincore: range is not mapped");
            const SwapState* swap = m_machine.swap();
            std::size_t index = 0;
            for (VirtAddr page = from; page < to; page = page.offset(kPageSize), ++index) {
                // mincore_pte_range(): a present PTE is in memory; a swapped page is while its
                // copy is still in the swap cache.
                Pte pte = m_page_table.lookup(page);
                bool resident = pte.present();
                if (pte.is_swap() && swap)
                    resident = swap->cache().lookup(pte.swap_entry().offset()).has_value();
                chunk[index] = resident ? 1 : 0;
            }
        }
        std::size_t pages = pages_between(from, to);
        std::memcpy(vec + pages_between(address, from), chunk, pages);
        from = to;
    }
    return {};
}

} // namespace vmemu
