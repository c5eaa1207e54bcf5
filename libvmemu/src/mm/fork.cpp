// fork of an address space: dup_mmap() (kernel/fork.c) and copy_page_range() (mm/memory.c).
// The child has a reservation of its own, of the same size, with every VMA at the same offset
// in it, and shares every anonymous page with the parent copy-on-write: both PTEs are
// write-protected, the page's mapcount and refcount rise, and the first write on either side
// goes through do_wp_page(), which copies the page or, for its last user, reuses it. Swap PTEs
// are shared through their slots' swap_map counts; the zero page is shared as it is.
#include <cstring>
#include <vmemu/address_space.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

VmResult<std::unique_ptr<AddressSpace>> AddressSpace::fork()
{
    auto child = VM_TRY(m_machine.create_address_space(m_reservation_end - m_reservation_start));
    os::ScopedAsyncSignalBlock signals;
    ScopedLock guard(m_mmap_lock);
    ScopedLock child_guard(child->m_mmap_lock);
    VM_TRY(share_private_vmas_locked());
    // On failure the child dies with whatever it got: its teardown frees it all.
    VM_TRY(dup_mmap_locked(*child));
    return child;
}

VmResult<void> AddressSpace::share_private_vmas_locked()
{
    // A view that cannot share frames holds a mapped page in this reservation alone, which a
    // page shared copy-on-write cannot be: every page goes back to its frame, and the VMAs
    // map frames from now on (VmFlags::HwShared), with their kernel mapping PROT_NONE again.
    for (Vma& vma : m_vmas) {
        if (view_for(vma).capabilities().shares_frames)
            continue;
        {
            ScopedLock ptl(m_page_table_lock);
            VM_TRY(unmap_hardware_range_locked(vma.start(), vma.end()));
        }
        VM_TRY(os::protect(vma.start(), vma.end() - vma.start(), os::HwProt::None));
        vma.set_flags(vma.flags() | VmFlags::HwShared);
    }
    return {};
}

VmResult<void> AddressSpace::dup_mmap_locked(AddressSpace& child)
{
    auto in_child = [&](VirtAddr address) { return child.m_reservation_start.offset(address - m_reservation_start); };
    // The VMAs, on their anon_vmas' lists, and the child's page tables, before any PTE is
    // touched. mlock is not inherited (VM_LOCKED is cleared, as in Linux).
    for (const Vma& vma : m_vmas) {
        std::uint32_t flags = vma.flags() & ~VmFlags::Locked;
        if (!child.charge(flags, vma.pages()))
            return vm_fail(ENOMEM, "fork: the commit limit (frames plus swap) would be exceeded");
        if (vma.file())
            m_machine.inodes().grab(*vma.file());
        auto inserted = child.m_vmas.insert(in_child(vma.start()), in_child(vma.end()), flags, vma.pgoff(),
            vma.anon_vma(), vma.file());
        if (!inserted) {
            if (vma.file())
                m_machine.inodes().put(*vma.file());
            child.uncharge(flags, vma.pages());
            return std::unexpected(inserted.error());
        }
        (*inserted)->wb_err_since().store(vma.wb_err_since());
        for (VirtAddr address = m_page_table.next_table_or(vma.start(), vma.end()); address < vma.end();) {
            if (!child.m_page_table.walk_alloc(in_child(address)))
                return vm_fail(ENOMEM, "fork: no frame for a page table");
            VirtAddr next(std::min<std::uintptr_t>((address.get() | (PageTable::kPteTableSpan - 1)) + 1, vma.end().get()));
            address = m_page_table.next_table_or(next, vma.end());
        }
    }
    ScopedLock ptl(m_page_table_lock);
    // Writes must fault from here on: the writable part of the hardware view goes first, so
    // that no write lands in a page after it is shared.
    for (const Vma& vma : m_vmas) {
        if (vma.flags() & VmFlags::Write)
            VM_TRY(unmap_hardware_range_locked(vma.start(), vma.end()));
    }
    ScopedLock child_ptl(child.m_page_table_lock);
    FrameArena& arena = m_machine.arena();
    SwapState* swap = m_machine.swap();
    VmError error { 0, "" };
    bool failed = false;
    for (const Vma& vma : m_vmas) {
        Vma* child_vma = child.m_vmas.find_vma(in_child(vma.start()));
        auto copy_pte = [&](VirtAddr address, PageTable::Entry& slot) VM_NO_THREAD_SAFETY_ANALYSIS {
            Pte pte(slot.load(std::memory_order_acquire));
            if (failed || pte.none())
                return;
            VirtAddr to = in_child(address);
            PageTable::Entry* child_slot = child.m_page_table.walk(to);
            if (pte.is_swap()) {
                // swap_duplicate(): the slot counts one more swap PTE.
                if (!swap->device().slots().add_reference(pte.swap_entry().offset())) {
                    error = VmError { ENOMEM, "fork: a swap slot's count is at its maximum" };
                    failed = true;
                    return;
                }
                child_slot->store(pte.raw(), std::memory_order_release);
                return;
            }
            if (arena.is_zero_pfn(pte.pfn())) {
                child_slot->store(Pte::make(arena.zero_pfn(to.vpn()), Pte::kPresent | Pte::kUser).raw(),
                    std::memory_order_release);
                m_machine.stat().inc(VmStatItem::NrZeroPageMappings);
                return;
            }
            PageFrame& page = arena.frame(pte.pfn());
            // A page-cache page is not copied: the child's first touch finds it in the cache
            // (copy_page_range() skips what a fault can bring back).
            if (!page.test(PageFlag::SwapBacked))
                return;
            if (page.pincount.load(std::memory_order_acquire) != 0) {
                // A pinned page may be written by a system call at any moment, unseen: the
                // child gets its own copy now (page_needs_cow_for_dma()).
                auto copy = m_machine.page_allocator().alloc_contig(1, std::nullopt, ZeroFill::No, MayReclaim::No);
                if (!copy) {
                    error = VmError { ENOMEM, "fork: no frame for a copy of a pinned page" };
                    failed = true;
                    return;
                }
                std::memcpy(arena.direct_map(*copy), arena.direct_map(pte.pfn()), kPageSize);
                std::uint64_t bits = Pte::kPresent | Pte::kUser | Pte::kDirty
                    | ((child_vma->flags() & VmFlags::Write) ? Pte::kWrite : 0);
                child_slot->store(Pte::make(*copy, bits).raw(), std::memory_order_release);
                child.add_new_anon_pages_locked(*child_vma, *copy, 1, to);
                return;
            }
            // Both sides write-protected; the child's PTE is old and out of its hardware view.
            slot.store(pte.without(Pte::kWrite | Pte::kHwWrite).raw(), std::memory_order_release);
            child_slot->store(pte.without(Pte::kWrite | Pte::kHwBits | Pte::kAccessed).raw(), std::memory_order_release);
            page.refcount.fetch_add(1, std::memory_order_acq_rel);
            m_machine.page_add_anon_rmap(page);
        };
        m_page_table.for_each_slot(vma.start(), vma.end(), copy_pte);
        if (failed)
            return std::unexpected(error);
    }
    return {};
}

} // namespace vmemu
