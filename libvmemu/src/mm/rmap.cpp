// The reverse map (mm/rmap.c): the places that may map a page, found through its anon_vma or
// its file's i_mmap, and the address space's side: the PTEs that reclaim found there, checked
// and changed under the page_table_lock.
#include <algorithm>
#include <vmemu/address_space.hpp>
#include <vmemu/base/assert.hpp>
#include <vmemu/fs/inode.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

std::size_t rmap_targets(const PageFrame& page, RmapTarget* out, std::size_t capacity)
{
    void* mapping = page.page_mapping();
    if (!mapping)
        return 0;
    std::size_t count = 0;
    auto collect = [&](AddressSpace* space, std::uint64_t vpn) {
        if (!space)
            return;
        if (count < capacity)
            out[count] = RmapTarget { space, vpn };
        ++count;
    };
    std::uint64_t index = page.page_index();
    if (!page.test(PageFlag::SwapBacked)) {
        auto* inode = static_cast<Inode*>(mapping);
        SharedLock guard(inode->i_mmap_lock());
        inode->for_each_mapping(index, collect);
        return count;
    }
    auto* anon_vma = static_cast<AnonVma*>(mapping);
    SharedLock guard(anon_vma->lock());
    anon_vma->for_each_mapping(index, collect);
    return count;
}

PageTable::Entry* AddressSpace::pte_mapping_page_locked(const PageFrame& page, std::uint64_t vpn) const
{
    VirtAddr address(vpn << kPageShift);
    if (!in_reservation(address))
        return nullptr;
    PageTable::Entry* slot = m_page_table.walk(address);
    if (!slot)
        return nullptr;
    Pte pte(slot->load(std::memory_order_acquire));
    return pte.present() && pte.pfn() == m_machine.arena().pfn_of(page) ? slot : nullptr;
}

void AddressSpace::page_referenced_batch(const ReferencedTarget* targets, std::size_t count, bool* referenced)
{
    // First look, under one hold of the lock: the accessed bits, and which pages the kernel
    // maps. Those leave the hardware view below, so that their next touch is seen.
    struct Mapped {
        std::uint64_t vpn;
        std::size_t target;
    };
    Mapped mapped[kMaxReferencedBatch];
    std::size_t nr_mapped = 0;
    VM_ASSERT(count <= kMaxReferencedBatch);
    {
        ScopedLock ptl(m_page_table_lock);
        for (std::size_t i = 0; i < count; ++i) {
            referenced[i] = false;
            PageTable::Entry* slot = pte_mapping_page_locked(*targets[i].page, targets[i].vpn);
            if (!slot)
                continue;
            Pte pte(slot->load(std::memory_order_acquire));
            referenced[i] = pte.accessed();
            // A pinned page is in use by a system call: it keeps its place in the kernel's view.
            if (targets[i].page->pincount.load(std::memory_order_acquire) != 0) {
                referenced[i] = true;
                continue;
            }
            if (pte.hw_mapped())
                mapped[nr_mapped++] = Mapped { targets[i].vpn, i };
            else
                slot->fetch_and(~Pte::kAccessed, std::memory_order_acq_rel);
        }
    }
    std::sort(mapped, mapped + nr_mapped, [](const Mapped& a, const Mapped& b) { return a.vpn < b.vpn; });
    // Still mapped where it was, and still unpinned: a system call may have pinned the page
    // since the first look (pins are taken under this lock), and then it stays in the kernel's
    // view, counted as referenced.
    auto still_there = [&](const Mapped& entry) VM_REQUIRES(m_page_table_lock) {
        PageFrame& page = *targets[entry.target].page;
        if (page.pincount.load(std::memory_order_acquire) != 0) {
            referenced[entry.target] = true;
            return false;
        }
        return pte_mapping_page_locked(page, entry.vpn) != nullptr;
    };
    // ptep_clear_flush_young() for each run of neighbouring pages at once: one system call per
    // run, with the lock held for that run only, so that faults get through in between.
    for (std::size_t first = 0; first < nr_mapped;) {
        std::size_t end = first + 1;
        while (end < nr_mapped && mapped[end].vpn == mapped[end - 1].vpn + 1)
            ++end;
        ScopedLock ptl(m_page_table_lock);
        // The run may have changed since the first look (munmap, mremap): take the pages still
        // mapped where they were, in sub-runs of neighbours.
        for (std::size_t i = first; i < end;) {
            std::size_t stop = i;
            while (stop < end && still_there(mapped[stop]))
                ++stop;
            if (stop == i) {
                ++i;
                continue;
            }
            VirtAddr start(mapped[i].vpn << kPageShift);
            VirtAddr stop_address = start.page_offset(static_cast<std::int64_t>(stop - i));
            bool unmapped = static_cast<bool>(unmap_hardware_range_locked(start, stop_address));
            for (std::size_t k = i; k < stop; ++k) {
                std::size_t target = mapped[k].target;
                // A page the kernel still maps (it refused) counts as referenced.
                if (!unmapped) {
                    referenced[target] = true;
                    continue;
                }
                PageTable::Entry* slot = pte_mapping_page_locked(*targets[target].page, mapped[k].vpn);
                referenced[target] |= Pte(slot->fetch_and(~Pte::kAccessed, std::memory_order_acq_rel)).accessed();
            }
            i = stop;
        }
        first = end;
    }
}

AddressSpace::UnmapResult AddressSpace::try_to_unmap_file_one(PageFrame& page, std::uint64_t vpn)
{
    VirtAddr address(vpn << kPageShift);
    ScopedLock ptl(m_page_table_lock);
    if (page.pincount.load(std::memory_order_acquire) != 0)
        return UnmapResult::Failed;
    PageTable::Entry* slot = pte_mapping_page_locked(page, vpn);
    if (!slot)
        return UnmapResult::NotMapped;
    Pte pte(slot->load(std::memory_order_acquire));
    if (pte.hw_mapped() && !unmap_hardware_range_locked(address, address.offset(kPageSize)))
        return UnmapResult::Failed;
    slot->store(0, std::memory_order_release);
    // The page is clean here (reclaim writes dirty pages first); a PTE dirty meanwhile says
    // otherwise.
    if (pte.dirty())
        m_machine.writeback().set_page_dirty(*static_cast<Inode*>(page.page_mapping()), page);
    m_machine.page_remove_rmap(page);
    page.refcount.fetch_sub(1, std::memory_order_acq_rel); // the mapping's; never the last
    return UnmapResult::Unmapped;
}

AddressSpace::UnmapResult AddressSpace::try_to_unmap_one(PageFrame& page, std::uint64_t vpn, std::uint64_t shadow)
{
    VirtAddr address(vpn << kPageShift);
    ScopedLock ptl(m_page_table_lock);
    // A write fault takes a clean page out of the swap cache under this lock.
    if (!page.test(PageFlag::SwapCache))
        return UnmapResult::Failed;
    // Pins are taken under this lock: a page pinned now stays.
    if (page.pincount.load(std::memory_order_acquire) != 0)
        return UnmapResult::Failed;
    SwapEntry entry(0, static_cast<std::uint32_t>(page.page_private()));
    PageTable::Entry* slot = pte_mapping_page_locked(page, vpn);
    if (!slot)
        return UnmapResult::NotMapped;
    Pte pte(slot->load(std::memory_order_acquire));
    if (pte.hw_mapped() && !unmap_hardware_range_locked(address, address.offset(kPageSize)))
        return UnmapResult::Failed;
    if (!m_machine.swap()->device().slots().add_reference(entry.offset()))
        return UnmapResult::Failed;
    slot->store(Pte::make_swap(entry, shadow).raw(), std::memory_order_release);
    m_machine.page_remove_rmap(page);
    page.refcount.fetch_sub(1, std::memory_order_acq_rel); // the mapping's; never the last
    return UnmapResult::Unmapped;
}

bool AddressSpace::restore_swap_pte(PageFrame& page, SwapEntry entry, std::uint64_t vpn)
{
    VirtAddr address(vpn << kPageShift);
    if (!in_reservation(address))
        return false;
    ScopedLock ptl(m_page_table_lock);
    PageTable::Entry* slot = m_page_table.walk(address);
    if (!slot)
        return false;
    Pte pte(slot->load(std::memory_order_acquire));
    if (!pte.is_swap() || pte.swap_entry() != entry)
        return false;
    // Present but write-protected and unaccessed: a read maps it, a write goes through
    // do_wp_page(), which makes it writable again when this is its only user.
    Pfn pfn = m_machine.arena().pfn_of(page);
    slot->store(Pte::make(pfn, Pte::kPresent | Pte::kUser | Pte::kDirty).raw(), std::memory_order_release);
    page.refcount.fetch_add(1, std::memory_order_acq_rel);
    m_machine.page_add_anon_rmap(page);
    m_machine.swap()->device().slots().drop_reference(entry.offset());
    return true;
}

} // namespace vmemu
