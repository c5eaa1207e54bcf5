// mremap(2) on an AddressSpace (mm/mremap.c): shrink, grow in place, or move the PTEs to a
// new range. Moved pages keep their frames; their hardware view is rebuilt by the next touch,
// one fault per run of contiguous frames.
#include <sys/mman.h>
#include <vmemu/address_space.hpp>
#include <vmemu/fs/inode.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

VmResult<VirtAddr> AddressSpace::mremap(VirtAddr old_address, std::size_t old_length, std::size_t new_length,
    int flags, VirtAddr new_address)
{
    // The checks in the order of Linux's mremap() and mremap_to().
    if (flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP))
        return vm_fail(EINVAL, "mremap: unknown flags");
    if ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE))
        return vm_fail(EINVAL, "mremap: MREMAP_FIXED needs MREMAP_MAYMOVE");
    if ((flags & MREMAP_DONTUNMAP) && (!(flags & MREMAP_MAYMOVE) || old_length != new_length))
        return vm_fail(EINVAL, "mremap: MREMAP_DONTUNMAP needs MREMAP_MAYMOVE and equal lengths");
    if (!old_address.is_page_aligned())
        return vm_fail(EINVAL, "mremap: old address is not page-aligned");
    std::uintptr_t old_size = page_round_up(old_length);
    std::uintptr_t new_size = page_round_up(new_length);
    if (new_size == 0 || (old_length != 0 && old_size == 0))
        return vm_fail(EINVAL, "mremap: a length is zero or overflows");
    if (flags & MREMAP_FIXED) {
        if (!new_address.is_page_aligned())
            return vm_fail(EINVAL, "mremap: new address is not page-aligned");
        if (!in_reservation_range(new_address, new_size))
            return vm_fail(EINVAL, "mremap: new range outside the reservation");
        if (new_address < old_address.offset(old_size) && old_address < new_address.offset(new_size))
            return vm_fail(EINVAL, "mremap: old and new ranges overlap");
    }
    if (!in_reservation_range(old_address, std::max<std::uintptr_t>(old_size, kPageSize)))
        return vm_fail(EFAULT, "mremap: old range is not mapped");

    os::ScopedAsyncSignalBlock signals;
    ScopedLock guard(m_mmap_lock);
    bool moves = flags & (MREMAP_FIXED | MREMAP_DONTUNMAP);
    // The old address must lie in a VMA, even to shrink (Linux looks the VMA up before it
    // does anything else; what lies past it may be anything).
    Vma* vma = m_vmas.find_vma(old_address);
    if (!vma || vma->start() > old_address)
        return vm_fail(EFAULT, "mremap: old range is not mapped");
    if (!moves && old_size != 0 && old_size >= new_size) {
        // Shrinking unmaps the tail, whatever is mapped there.
        if (old_size > new_size) {
            VM_TRY(do_munmap_locked(old_address.offset(new_size), old_address.offset(old_size)));
            sync_kernel_protection_locked(old_address.offset(new_size), old_address.offset(old_size));
        }
        return old_address;
    }
    VM_TRY(vma_to_resize_locked(*vma, old_address, old_size, new_size));
    if (flags & MREMAP_FIXED) {
        VM_TRY(do_munmap_locked(new_address, new_address.offset(new_size)));
        sync_kernel_protection_locked(new_address, new_address.offset(new_size));
        if (old_size > new_size) {
            VM_TRY(do_munmap_locked(old_address.offset(new_size), old_address.offset(old_size)));
            sync_kernel_protection_locked(old_address.offset(new_size), old_address.offset(old_size));
            old_size = new_size;
        }
        // A duplicate (old length 0) whose target starts at the old address has just unmapped
        // its own source: EFAULT, with the target gone, as Linux's mremap_to() leaves it.
        vma = m_vmas.find_vma(old_address);
        if (!vma || vma->start() > old_address)
            return vm_fail(EFAULT, "mremap: the old range was unmapped as the target");
    }
    if (!moves) {
        // Grow in place when the VMA ends here and the space above is free.
        VirtAddr old_end = old_address.offset(old_size);
        VirtAddr new_end = old_address.offset(new_size);
        if (vma->end() == old_end && in_reservation_range(old_address, new_size)
            && !m_vmas.find_vma_intersection(old_end, new_end)) {
            if (!charge(vma->flags(), pages_between(old_end, new_end)))
                return vm_fail(ENOMEM, "mremap: the commit limit (frames plus swap) would be exceeded");
            m_vmas.resize(*vma, vma->start(), new_end, vma->pgoff());
            m_vmas.try_merge_around(*vma);
            sync_kernel_protection_locked(old_end, new_end);
            return old_address;
        }
        if (!(flags & MREMAP_MAYMOVE))
            return vm_fail(ENOMEM, "mremap: cannot grow in place");
    }
    if (!(flags & MREMAP_FIXED))
        new_address = VM_TRY(get_unmapped_area_locked(VirtAddr(), new_size));
    VM_TRY(move_vma_locked(old_address, old_size, new_address, new_size, flags & MREMAP_DONTUNMAP));
    sync_kernel_protection_locked(old_address, old_address.offset(old_size));
    sync_kernel_protection_locked(new_address, new_address.offset(new_size));
    return new_address;
}

VmResult<void> AddressSpace::vma_to_resize_locked(const Vma& vma, VirtAddr old_address, std::size_t old_size,
    std::size_t new_size) const
{
    if (old_size == 0 && !(vma.flags() & (VmFlags::Shared | VmFlags::MayShare)))
        return vm_fail(EINVAL, "mremap: duplicating a private mapping (old length 0) is not allowed");
    if (old_address.offset(old_size) > vma.end())
        return vm_fail(EFAULT, "mremap: old range is not one mapping");
    if ((vma.flags() & VmFlags::Locked) && new_size > old_size
        && !mlock_future_ok_locked((new_size - old_size) / kPageSize))
        return vm_fail(EAGAIN, "mremap: growing a locked mapping would exceed RLIMIT_MEMLOCK");
    return {};
}

VmResult<void> AddressSpace::move_vma_locked(VirtAddr old_address, std::size_t old_size, VirtAddr new_address,
    std::size_t new_size, bool keep_old)
{
    VirtAddr old_end = old_address.offset(old_size);
    Vma* vma = m_vmas.find_vma(old_address);
    std::uint32_t vm_flags = vma->flags();
    VirtAddr vma_start = vma->start();
    VirtAddr vma_end = vma->end();
    std::uint64_t pgoff = vma->pgoff() + pages_between(vma->start(), old_address);
    std::uintptr_t moved = std::min(old_size, new_size);
    // Everything that can fail comes before the first change: the target's page tables, the
    // new VMA, the split of the old one, and dropping the old hardware view.
    for (std::uintptr_t offset = 0; offset < moved;) {
        if (!m_page_table.walk_alloc(new_address.offset(offset)))
            return vm_fail(ENOMEM, "mremap: no frame for a page table");
        offset = ((new_address.get() + offset) | (PageTable::kPteTableSpan - 1)) + 1 - new_address.get();
    }
    if (!charge(vm_flags, pages_between(new_address, new_address.offset(new_size))))
        return vm_fail(ENOMEM, "mremap: the commit limit (frames plus swap) would be exceeded");
    if (vma->file())
        m_machine.inodes().grab(*vma->file());
    auto inserted = m_vmas.insert(new_address, new_address.offset(new_size), vm_flags, pgoff, vma->anon_vma(), vma->file());
    if (!inserted) {
        if (vma->file())
            m_machine.inodes().put(*vma->file());
        uncharge(vm_flags, pages_between(new_address, new_address.offset(new_size)));
        return std::unexpected(inserted.error());
    }
    Vma* fresh = *inserted;
    // The same mapping, moved: it has seen the file's writeback errors the old one saw.
    fresh->wb_err_since().store(vma->wb_err_since());
    if (old_size == 0) {
        // A second mapping of the same file pages (only a shared VMA gets here): the pages
        // fault in from the page cache; the old mapping is left as it was.
        m_vmas.try_merge_around(*fresh);
        return {};
    }
    auto undo = [&]() VM_REQUIRES(m_mmap_lock) {
        uncharge(vm_flags, fresh->pages());
        m_vmas.erase(*fresh);
    };
    if (auto split = split_at_locked(old_address, old_end); !split) {
        undo();
        return split;
    }
    VmResult<void> dropped;
    {
        // take_rmap_locks(): a walk of the file's mappings (writeback's page_mkclean) must not
        // see the PTEs between their old place and their new one.
        Inode::WriteGuard rmap_guard(fresh->file());
        ScopedLock ptl(m_page_table_lock);
        dropped = unmap_hardware_range_locked(old_address, old_address.offset(moved));
        if (dropped) {
            m_page_table.for_each_slot(old_address, old_address.offset(moved), [&](VirtAddr from, PageTable::Entry& slot) {
                Pte pte(slot.load(std::memory_order_relaxed));
                if (pte.none())
                    return;
                VirtAddr to = new_address.offset(from - old_address);
                m_page_table.walk(to)->store(pte.raw(), std::memory_order_release);
                slot.store(0, std::memory_order_release);
                // The pages keep their index: the new VMA has the old one's anon_vma and pgoff.
            });
        }
    }
    if (!dropped) {
        undo();
        return dropped;
    }
    if (!keep_old)
        VM_TRY(do_munmap_locked(old_address, old_end)); // only empty page tables are left there
    else if (vm_flags & VmFlags::Locked)
        unlock_after_dontunmap_locked(vma_start, vma_end, *fresh);
    m_vmas.try_merge_around(*fresh);
    return {};
}

void AddressSpace::unlock_after_dontunmap_locked(VirtAddr start, VirtAddr end, const Vma& moved)
{
    // dontunmap_complete(): VM_LOCKED goes from the whole VMA the range was moved out of, as it
    // was before the move split it, not only from the range; its pages are munlocked here and
    // now, where Linux leaves them for reclaim to find.
    for (Vma* vma = m_vmas.find_vma(start); vma && vma->start() < end; vma = m_vmas.next(*vma)) {
        if (vma == &moved)
            continue;
        vma->set_flags(vma->flags() & ~VmFlags::Locked);
        set_pages_locked_locked(vma->start(), vma->end(), false);
    }
    merge_range_locked(start, end);
}

} // namespace vmemu
