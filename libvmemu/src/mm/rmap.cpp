// The reverse map (mm/rmap.c) for anonymous pages: from a page to its PTE, for reclaim.
#include <vmemu/address_space.hpp>
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

bool AddressSpace::page_referenced_one(PageFrame& page)
{
    VirtAddr address(page.index << kPageShift);
    ScopedLock ptl(m_page_table_lock);
    PageTable::Entry* slot = pte_mapping_page_locked(page);
    if (!slot)
        return false;
    Pte pte(slot->load(std::memory_order_acquire));
    if (!pte.accessed())
        return false;
    // ptep_clear_flush_young(): the hardware view must let go too, or the next access would
    // not be seen.
    if (pte.hw_mapped() && !unmap_hardware_range_locked(address, address.offset(kPageSize)))
        return true;
    slot->fetch_and(~Pte::kAccessed, std::memory_order_acq_rel);
    return true;
}

AddressSpace::UnmapResult AddressSpace::try_to_unmap_one(PageFrame& page, std::uint64_t shadow)
{
    VirtAddr address(page.index << kPageShift);
    ScopedLock ptl(m_page_table_lock);
    // A write fault takes a clean page out of the swap cache under this lock.
    if (!page.test(PageFlag::SwapCache))
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
