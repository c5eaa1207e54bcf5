// mprotect(2) on an AddressSpace (mm/mprotect.c).
#include <vector>
#include <vmemu/address_space.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/mm/mm_flags.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

VmResult<void> AddressSpace::mprotect(VirtAddr address, std::size_t length, int prot)
{
    // In do_mprotect_pkey()'s order.
    if (!address.is_page_aligned())
        return vm_fail(EINVAL, "mprotect: address is not page-aligned");
    if (length == 0)
        return {};
    std::uintptr_t size = page_round_up(length);
    if (size == 0 || address.get() + size < address.get())
        return vm_fail(ENOMEM, "mprotect: range overflows");
    if (prot & ~kKnownProt)
        return vm_fail(EINVAL, "mprotect: unknown protection bits");
    if (!in_reservation_range(address, size))
        return vm_fail(ENOMEM, "mprotect: range is not mapped");
    VirtAddr start = address;
    VirtAddr end = address.offset(size);
    std::uint32_t access = vm_flags_from_prot(prot);

    os::ScopedAsyncSignalBlock signals;
    std::vector<VmaRange> to_populate;
    bool hole = false;
    {
        ScopedLock guard(m_mmap_lock);
        // As Linux's: the start must be mapped; the VMAs before a hole change, and then the
        // call fails with ENOMEM.
        VirtAddr mapped_end = mapped_prefix_end_locked(start, end);
        if (mapped_end == start)
            return vm_fail(ENOMEM, "mprotect: range is not mapped");
        hole = mapped_end < end;
        VM_TRY(mprotect_fixup_locked(start, std::min(end, mapped_end), access, to_populate));
    }
    // mprotect_fixup(): a private locked mapping that becomes writable is written in now,
    // copying each page from the file or the zero page, so that its first writes do not
    // wait. Whatever does not come in is faulted later, as in Linux.
    for (const VmaRange& range : to_populate)
        (void)populate(range.start, range.end, FaultAccess::Write);
    if (hole)
        return vm_fail(ENOMEM, "mprotect: range is not mapped");
    return {};
}

VmResult<void> AddressSpace::mprotect_fixup_locked(VirtAddr start, VirtAddr end, std::uint32_t access,
    std::vector<VmaRange>& to_populate)
{
    // A file opened read-only cannot gain a shared writable mapping.
    for (Vma* vma = m_vmas.find_vma(start); vma && vma->start() < end; vma = m_vmas.next(*vma)) {
        if ((access & VmFlags::Write) && !(vma->flags() & VmFlags::MayWrite))
            return vm_fail(EACCES, "mprotect: PROT_WRITE on a shared mapping of a file opened read-only");
    }
    VM_TRY(split_at_locked(start, end));
    bool takes_away = false;
    bool follows_vmas = false;
    for (Vma* vma = m_vmas.find_vma(start); vma && vma->start() < end; vma = m_vmas.next(*vma)) {
        takes_away |= (vma->flags() & VmFlags::AccessMask & ~access) != 0;
        follows_vmas |= view_for(*vma).capabilities().follows_vmas;
    }
    {
        ScopedLock ptl(m_page_table_lock);
        // Access that goes away must leave the hardware view now; access that is added is
        // granted lazily, by the next fault on each page.
        // (A view that follows VMAs maps every page with its VMA's protection: any change goes
        // through a fault.)
        if (takes_away || follows_vmas)
            VM_TRY(unmap_hardware_range_locked(start, end));
        const FrameArena& arena = m_machine.arena();
        bool writable = access & VmFlags::Write;
        m_page_table.for_each_slot(start, end, [&](VirtAddr, PageTable::Entry& slot) {
            Pte pte(slot.load(std::memory_order_relaxed));
            if (!pte.present() || arena.is_zero_pfn(pte.pfn()))
                return;
            // Only an anonymous page that is this PTE's alone becomes writable at once. A clean
            // copy in the swap cache, a page shared copy-on-write and a page-cache page stay
            // write-protected: their first write must go through the write fault (which lets
            // go of the stale slot, copies, or dirties the page).
            const PageFrame& frame = arena.frame(pte.pfn());
            bool may_write = writable && frame.test(PageFlag::SwapBacked) && !frame.test(PageFlag::SwapCache)
                && frame.mapcount.load(std::memory_order_acquire) == 1;
            slot.store((may_write ? pte.with(Pte::kWrite) : pte.without(Pte::kWrite)).raw(), std::memory_order_release);
        });
    }
    for (Vma* vma = m_vmas.find_vma(start); vma && vma->start() < end; vma = m_vmas.next(*vma)) {
        std::uint32_t old_flags = vma->flags();
        if ((old_flags & (VmFlags::Write | VmFlags::Shared | VmFlags::Locked)) == VmFlags::Locked
            && (access & VmFlags::Write))
            to_populate.push_back(VmaRange { vma->start(), vma->end() });
        vma->set_flags((old_flags & ~VmFlags::AccessMask) | access);
    }
    merge_range_locked(start, end);
    sync_kernel_protection_locked(start, end);
    return {};
}

} // namespace vmemu
