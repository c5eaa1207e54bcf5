// The reverse map (mm/rmap.c) for anonymous pages: from a page to its PTE, for reclaim.
#include <algorithm>
#include <vmemu/address_space.hpp>
#include <vmemu/base/assert.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

PageTable::Entry* AddressSpace::pte_mapping_page_locked(const PageFrame& page) const
{
    PageTable::Entry* slot = m_page_table.walk(VirtAddr(page.index << kPageShift));
    if (!slot)
        return nullptr;
    Pte pte(slot->load(std::memory_order_acquire));
    return pte.present() && pte.pfn() == m_machine.arena().pfn_of(page) ? slot : nullptr;
}

void AddressSpace::page_referenced_batch(PageFrame** pages, std::size_t count, bool* referenced)
{
    // First look, under one hold of the lock: the accessed bits, and which pages the kernel
    // maps. Those leave the hardware view below, so that their next touch is seen.
    struct Mapped {
        std::uint64_t vpn;
        std::size_t index;
    };
    Mapped mapped[kMaxReferencedBatch];
    std::size_t nr_mapped = 0;
    VM_ASSERT(count <= kMaxReferencedBatch);
    {
        ScopedLock ptl(m_page_table_lock);
        for (std::size_t i = 0; i < count; ++i) {
            referenced[i] = false;
            PageTable::Entry* slot = pte_mapping_page_locked(*pages[i]);
            if (!slot)
                continue;
            Pte pte(slot->load(std::memory_order_acquire));
            referenced[i] = pte.accessed();
            // A pinned page is in use by a system call: it keeps its place in the kernel's view.
            if (pages[i]->pincount.load(std::memory_order_acquire) != 0) {
                referenced[i] = true;
                continue;
            }
            if (pte.hw_mapped())
                mapped[nr_mapped++] = Mapped { pages[i]->index, i };
            else
                slot->fetch_and(~Pte::kAccessed, std::memory_order_acq_rel);
        }
    }
    std::sort(mapped, mapped + nr_mapped, [](const Mapped& a, const Mapped& b) { return a.vpn < b.vpn; });
    auto still_there = [&](const Mapped& entry) VM_REQUIRES(m_page_table_lock) {
        const PageFrame& page = *pages[entry.index];
        return page.index == entry.vpn && pte_mapping_page_locked(page);
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
                PageTable::Entry* slot = pte_mapping_page_locked(*pages[mapped[k].index]);
                // A page the kernel still maps (it refused) counts as referenced.
                if (!unmapped) {
                    referenced[mapped[k].index] = true;
                    continue;
                }
                referenced[mapped[k].index] |= Pte(slot->fetch_and(~Pte::kAccessed, std::memory_order_acq_rel)).accessed();
            }
            i = stop;
        }
        first = end;
    }
}

AddressSpace::UnmapResult AddressSpace::try_to_unmap_one(PageFrame& page, std::uint64_t shadow)
{
    VirtAddr address(page.index << kPageShift);
    ScopedLock ptl(m_page_table_lock);
    // A write fault takes a clean page out of the swap cache under this lock.
    if (!page.test(PageFlag::SwapCache))
        return UnmapResult::Failed;
    // Pins are taken under this lock: a page pinned now stays.
    if (page.pincount.load(std::memory_order_acquire) != 0)
        return UnmapResult::Failed;
    SwapEntry entry(0, static_cast<std::uint32_t>(page.private_data));
    PageTable::Entry* slot = pte_mapping_page_locked(page);
    if (!slot)
        return UnmapResult::NotMapped;
    Pte pte(slot->load(std::memory_order_acquire));
    if (pte.hw_mapped() && !unmap_hardware_range_locked(address, address.offset(kPageSize)))
        return UnmapResult::Failed;
    if (!m_machine.swap()->device().slots().add_reference(entry.offset()))
        return UnmapResult::Failed;
    slot->store(Pte::make_swap(entry, shadow).raw(), std::memory_order_release);
    page.mapcount.fetch_sub(1, std::memory_order_acq_rel);
    page.refcount.fetch_sub(1, std::memory_order_acq_rel); // the mapping's; never the last
    m_machine.stat().dec(VmStatItem::NrAnonPages);
    return UnmapResult::Unmapped;
}

bool AddressSpace::restore_swap_pte(PageFrame& page, SwapEntry entry)
{
    VirtAddr address(page.index << kPageShift);
    ScopedLock ptl(m_page_table_lock);
    PageTable::Entry* slot = m_page_table.walk(address);
    if (!slot)
        return false;
    Pte pte(slot->load(std::memory_order_acquire));
    if (!pte.is_swap() || pte.swap_entry() != entry)
        return false;
    // Present but write-protected and unaccessed: a read maps it, a write makes it writable
    // again through do_wp_page(), as for the only user of a private page.
    Pfn pfn = m_machine.arena().pfn_of(page);
    slot->store(Pte::make(pfn, Pte::kPresent | Pte::kUser | Pte::kDirty).raw(), std::memory_order_release);
    page.mapcount.fetch_add(1, std::memory_order_acq_rel);
    page.refcount.fetch_add(1, std::memory_order_acq_rel);
    m_machine.stat().inc(VmStatItem::NrAnonPages);
    m_machine.swap()->device().slots().drop_reference(entry.offset());
    // Out of the swap cache under this lock: the write fault a restored page may take next
    // looks at PG_swapcache under it too.
    m_machine.swap()->delete_from_swap_cache(page);
    return true;
}

} // namespace vmemu
