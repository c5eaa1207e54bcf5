// mremap(2) on an AddressSpace (mm/mremap.c): shrink, grow in place, or move the PTEs to a
// new range. Moved pages keep their frames; their hardware view is rebuilt by the next touch.
#include <sys/mman.h>
#include <vmemu/address_space.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

VmResult<VirtAddr> AddressSpace::mremap(VirtAddr old_address, std::size_t old_length, std::size_t new_length,
    int flags, VirtAddr new_address)
{
    if (flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP))
        return vm_fail(EINVAL, "mremap: unknown flags");
    if ((flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) && !(flags & MREMAP_MAYMOVE))
        return vm_fail(EINVAL, "mremap: MREMAP_FIXED and MREMAP_DONTUNMAP need MREMAP_MAYMOVE");
    if (!old_address.is_page_aligned())
        return vm_fail(EINVAL, "mremap: old address is not page-aligned");
    std::uintptr_t old_size = page_round_up(old_length);
    std::uintptr_t new_size = page_round_up(new_length);
    if (new_length == 0 || new_size == 0)
        return vm_fail(EINVAL, "mremap: new length is zero or overflows");
    if (old_length == 0)
        return vm_fail(EINVAL, "mremap: duplicating a private mapping (old length 0) is not allowed");
    if ((flags & MREMAP_DONTUNMAP) && old_size != new_size)
        return vm_fail(EINVAL, "mremap: MREMAP_DONTUNMAP needs equal lengths");
    if (old_size == 0 || !in_reservation_range(old_address, old_size))
        return vm_fail(EFAULT, "mremap: old range is not mapped");
    if (flags & MREMAP_FIXED) {
        if (!new_address.is_page_aligned())
            return vm_fail(EINVAL, "mremap: new address is not page-aligned");
        if (!in_reservation_range(new_address, new_size))
            return vm_fail(EINVAL, "mremap: new range outside the reservation");
        bool overlap = new_address < old_address.offset(old_size) && old_address < new_address.offset(new_size);
        if (overlap)
            return vm_fail(EINVAL, "mremap: old and new ranges overlap");
    }
    VirtAddr old_end = old_address.offset(old_size);

    ScopedLock guard(m_mmap_lock);
    Vma* vma = m_vmas.find_vma(old_address);
    if (!vma || vma->start() > old_address || vma->end() < old_end)
        return vm_fail(EFAULT, "mremap: old range is not one mapping");

    if (!(flags & MREMAP_FIXED)) {
        if (new_size <= old_size && !(flags & MREMAP_DONTUNMAP)) {
            if (new_size < old_size)
                VM_TRY(do_munmap_locked(old_address.offset(new_size), old_end));
            return old_address;
        }
        // Grow in place when the VMA ends here and the space above is free.
        VirtAddr new_end = old_address.offset(new_size);
        if (!(flags & MREMAP_DONTUNMAP) && vma->end() == old_end && in_reservation_range(old_address, new_size)
            && !m_vmas.find_vma_intersection(old_end, new_end)) {
            m_vmas.resize(*vma, vma->start(), new_end, vma->pgoff());
            m_vmas.try_merge_around(*vma);
            return old_address;
        }
        if (!(flags & MREMAP_MAYMOVE))
            return vm_fail(ENOMEM, "mremap: cannot grow in place");
        new_address = VM_TRY(get_unmapped_area_locked(VirtAddr(), new_size));
    } else {
        VM_TRY(do_munmap_locked(new_address, new_address.offset(new_size)));
        vma = m_vmas.find_vma(old_address);
    }

    // move_vma(): a new VMA, the PTEs moved across, then the old range unmapped.
    std::uint32_t vm_flags = vma->flags();
    std::uint64_t pgoff = vma->pgoff() + pages_between(vma->start(), old_address);
    std::uintptr_t moved = std::min(old_size, new_size);
    VM_TRY(split_at_locked(old_address, old_end));
    Vma* fresh = VM_TRY(m_vmas.insert(new_address, new_address.offset(new_size), vm_flags, pgoff));
    {
        ScopedLock ptl(m_page_table_lock);
        VM_TRY(unmap_hardware_range_locked(old_address, old_address.offset(moved)));
        bool out_of_tables = false;
        m_page_table.for_each_slot(old_address, old_address.offset(moved), [&](VirtAddr from, PageTable::Entry& slot) {
            Pte pte(slot.load(std::memory_order_relaxed));
            if (pte.none() || out_of_tables)
                return;
            VirtAddr to = new_address.offset(from - old_address);
            PageTable::Entry* target = m_page_table.walk_alloc(to);
            if (!target) {
                out_of_tables = true;
                return;
            }
            target->store(pte.raw(), std::memory_order_release);
            slot.store(0, std::memory_order_release);
            if (!m_machine.arena().is_zero_pfn(pte.pfn()))
                m_machine.arena().frame(pte.pfn()).index = to.vpn();
        });
        if (out_of_tables)
            return vm_fail(ENOMEM, "mremap: no frame for a page table");
    }
    if (flags & MREMAP_DONTUNMAP) {
        // The old range stays mapped and empty.
    } else {
        VM_TRY(do_munmap_locked(old_address, old_end));
    }
    m_vmas.try_merge_around(*fresh);
    return new_address;
}

} // namespace vmemu
