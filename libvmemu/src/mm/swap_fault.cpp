// do_swap_page() (mm/memory.c): a fault on a swap PTE brings the page back, from the swap
// cache when it is still there (a minor fault) or from the device (a major fault).
// Async-signal-safe like the rest of the fault path: waiting for I/O is a futex sleep.
#include <sched.h>
#include <vmemu/address_space.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

void AddressSpace::swap_vma_readahead(Vma& vma, VirtAddr address)
{
    // swap_vma_readahead(): when swap faults walk the VMA in order, the next pages' entries are
    // read ahead wherever their slots are, within the VMA and this PTE table.
    bool sequential = vma.swapin_is_sequential(address.vpn());
    vma.record_swapin(address.vpn());
    if (!sequential || (vma.flags() & VmFlags::RandRead))
        return;
    SwapEntry entries[SwapState::kReadaroundPages];
    std::size_t count = 0;
    std::uint64_t index = address.vpn() & (PageTable::kEntries - 1);
    std::size_t room = std::min<std::size_t>(PageTable::kEntries - 1 - index, pages_between(address, vma.end()) - 1);
    PageTable::Entry* slot = m_page_table.walk(address);
    for (std::size_t i = 1; i <= std::min<std::size_t>(room, SwapState::kReadaroundPages); ++i) {
        Pte pte(slot[i].load(std::memory_order_acquire));
        if (pte.is_swap())
            entries[count++] = pte.swap_entry();
    }
    if (count)
        m_machine.swap()->swapin_async(entries, count);
}

FaultResult AddressSpace::do_swap_page(Vma& vma, VirtAddr address, Pte seen, FaultAccess access)
{
    SwapState& swap = *m_machine.swap();
    SwapEntry entry = seen.swap_entry();
    PageFrame* page = nullptr;
retry:
    for (;;) {
        page = swap.lookup_get(entry);
        if (page)
            break;
        bool no_memory = false;
        page = swap.read_swap_page(entry, &no_memory);
        if (page) {
            m_machine.stat().inc(VmStatItem::PgMajFault);
            break;
        }
        if (no_memory)
            return FaultResult::OutOfMemory;
        // Another fault is reading the slot, or reclaim is freeing its cached copy: look again
        // unless the PTE changed meanwhile.
        if (m_page_table.lookup(address) != seen)
            return FaultResult::Handled;
        sched_yield();
    }
    swap_vma_readahead(vma, address);
    SwapState::wait_on_page_flag(*page, PageFlag::Locked);
    if (page->test(PageFlag::Error)) {
        m_machine.put_page(*page);
        return FaultResult::SigBus; // never a zero page in place of lost data
    }
    SwapState::wait_on_page_flag(*page, PageFlag::Writeback);
    // While we slept, the page may have left the cache (freed after a failed write, or taken by
    // a racing fault): then it is not the entry's page any more.
    if (!page->test(PageFlag::SwapCache) || page->private_data != entry.offset()) {
        m_machine.put_page(*page);
        if (m_page_table.lookup(address) != seen)
            return FaultResult::Handled;
        goto retry;
    }
    if (page->test(PageFlag::Readahead)) {
        page->clear(PageFlag::Readahead);
        m_machine.stat().inc(VmStatItem::SwapRaHit);
        swap.note_readahead_hit();
    }

    ScopedLock ptl(m_page_table_lock);
    PageTable::Entry* slot = m_page_table.walk(address);
    if (Pte(slot->load(std::memory_order_acquire)) != seen || !page->test(PageFlag::SwapCache)
        || page->private_data != entry.offset()) {
        // If the PTE went (munmap), the cached copy may be all that is left of the slot.
        if (!(swap.device().slots().map_value(entry.offset()) == SwapSlots::kHasCache
                && swap.try_free_cached_page(*page)))
            m_machine.put_page(*page);
        return FaultResult::Handled; // the access retries and faults again if it must
    }
    Pfn pfn = m_machine.arena().pfn_of(*page);
    // should_try_to_free_swap(): after a read fault the page stays in the swap cache, clean and
    // write-protected, so that reclaim can drop it again without writing it, unless swap is
    // half full or the memory is locked. A write fault takes it out of the cache now.
    SwapSlots& slots = swap.device().slots();
    bool keep_cached = access != FaultAccess::Write && !(vma.flags() & VmFlags::Locked)
        && !page->test(PageFlag::Dirty) && slots.nr_free() > slots.total_slots() / 2;
    std::uint64_t bits = Pte::kPresent | Pte::kUser | Pte::kAccessed;
    if (!keep_cached) {
        bits |= Pte::kDirty;
        if (vma.flags() & VmFlags::Write)
            bits |= Pte::kWrite;
    }
    FaultResult result = install_locked(vma, address, pfn, 1, bits);
    if (result != FaultResult::Handled) {
        m_machine.put_page(*page);
        return result;
    }
    // The caller's reference becomes the mapping's. The reverse map must be right before the
    // page counts as mapped.
    page->mapping = this;
    page->index = address.vpn();
    page->mapcount.fetch_add(1, std::memory_order_acq_rel);
    page->clear(PageFlag::Dirty);
    m_machine.stat().inc(VmStatItem::NrAnonPages);
    // The PTE no longer refers to the slot. Unless the page stays as a clean copy, it leaves
    // the cache too, and the slot is free for others.
    slots.drop_reference(entry.offset());
    if (!keep_cached)
        swap.delete_from_swap_cache(*page);
    if ((vma.flags() & VmFlags::Locked) && m_machine.lruvec().mlock_page(*page)) {
        m_machine.stat().inc(VmStatItem::NrMlock);
        m_machine.stat().inc(VmStatItem::UnevictablePgsMlocked);
    }
    // workingset_refault(): a page evicted recently enough belongs to the workingset.
    m_machine.stat().inc(VmStatItem::WorkingsetRefaultAnon);
    if (m_machine.workingset().refault_should_activate(m_machine.lruvec(), seen.shadow())) {
        m_machine.stat().inc(VmStatItem::WorkingsetActivateAnon);
        m_machine.lruvec().activate(*page);
    }
    return FaultResult::Handled;
}

} // namespace vmemu
