// do_swap_page() (mm/memory.c): a fault on a swap PTE brings the page back, from the swap
// cache when it is still there (a minor fault) or from the device (a major fault).
// Async-signal-safe like the rest of the fault path: waiting for I/O is a futex sleep.
#include <algorithm>
#include <sched.h>
#include <vmemu/address_space.hpp>
#include <vmemu/trace/tracepoint.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

namespace {
// The first window of a sequential stream of swap faults, and the largest.
constexpr std::uint32_t kFirstSwapWindow = 8;
constexpr std::uint32_t kMaxSwapWindow = SwapState::kMaxSwapinBatch;
} // namespace

void AddressSpace::swap_vma_readahead(Vma& vma, VirtAddr address, Pfn pfn)
{
    // swap_vma_readahead(), with an asynchronous window as filemap readahead has: while swap
    // faults walk the VMA in order, the next window is read when the stream comes within half
    // a window of what was read ahead, and the window doubles each time.
    std::uint64_t vpn = address.vpn();
    bool sequential = vma.swapin_is_sequential(vpn) && !(vma.flags() & VmFlags::RandRead);
    vma.record_swapin(vpn + 1);
    if (!sequential) {
        vma.record_swap_readahead(0, 0);
        return;
    }
    std::uint32_t window = vma.swap_readahead_window();
    std::uint64_t ahead = vma.swap_readahead_end();
    if (ahead > vpn + window / 2)
        return; // enough is on its way
    window = std::min(std::max(window * 2, kFirstSwapWindow), kMaxSwapWindow);
    std::uint64_t from = std::max(vpn + 1, ahead);
    VirtAddr first(from << kPageShift);
    if (first >= vma.end())
        return;
    PageTable::Entry* slots = m_page_table.walk(first);
    if (!slots)
        return;
    std::size_t to_table_end = PageTable::kEntries - (from & (PageTable::kEntries - 1));
    std::size_t count = std::min({ static_cast<std::size_t>(window - (from - vpn - 1)), to_table_end, pages_between(first, vma.end()) });
    // Readahead never takes the reserve below min.
    std::size_t spare = m_machine.free_frames() > m_machine.page_allocator().watermarks().min
        ? m_machine.free_frames() - m_machine.page_allocator().watermarks().min : 0;
    count = std::min(count, spare);
    SwapEntry entries[kMaxSwapWindow];
    for (std::size_t i = 0; i < count; ++i) {
        Pte pte(slots[i].load(std::memory_order_acquire));
        entries[i] = pte.is_swap() ? pte.swap_entry() : SwapEntry();
    }
    if (count)
        m_machine.swap()->swapin_async(entries, count, pfn + (from - vpn));
    vma.record_swap_readahead(from + count, window);
}

std::size_t AddressSpace::swap_fault_around_locked(Vma& vma, VirtAddr address, Pfn pfn, PageTable::Entry* slot,
    PageFrame** around, Pte* seen)
{
    // The pages that readahead put in the frames after this one, read and mapped by nobody,
    // map with it in one kernel mapping (do_fault_around() for the swap cache).
    if (vma.swap_readahead_window() == 0)
        return 0;
    std::size_t limit = std::min({ static_cast<std::size_t>(kMaxSwapWindow), pages_between(address, vma.end()),
        static_cast<std::size_t>(PageTable::kEntries - (address.vpn() & (PageTable::kEntries - 1))) });
    SwapState& swap = *m_machine.swap();
    std::size_t count = 0;
    for (std::size_t i = 1; i < limit; ++i) {
        Pte next(slot[i].load(std::memory_order_acquire));
        if (!next.is_swap())
            break;
        PageFrame* page = swap.lookup_get(next.swap_entry());
        if (!page)
            break;
        // Each is locked until it is mapped, as the faulting page is (see do_swap_page()).
        bool ready = m_machine.arena().pfn_of(*page) == pfn + i && page->mapcount.load(std::memory_order_acquire) == 0
            && !page->test(PageFlag::Writeback) && !page->test(PageFlag::Error) && !page->test(PageFlag::Dirty)
            && page->trylock();
        if (!ready) {
            m_machine.put_page(*page);
            break;
        }
        seen[count] = next;
        around[count++] = page;
    }
    return count;
}

void AddressSpace::map_swap_page_locked(Vma& vma, PageFrame& page, VirtAddr address, Pte seen, bool keep_cached)
{
    SwapState& swap = *m_machine.swap();
    SwapEntry entry = seen.swap_entry();
    if (page.test(PageFlag::Readahead)) {
        page.clear(PageFlag::Readahead);
        m_machine.stat().inc(VmStatItem::SwapRaHit);
        swap.note_readahead_hit();
    }
    // The caller's reference becomes the mapping's. The reverse map must be right before the
    // page counts as mapped.
    page.set_page_mapping(vma.anon_vma());
    page.set_page_index(vma.linear_index(address));
    m_machine.page_add_anon_rmap(page);
    // The PTE no longer refers to the slot. Unless the page stays as a clean copy, it leaves
    // the cache too, and the slot is free for others.
    swap.device().slots().drop_reference(entry.offset());
    if (!keep_cached) {
        page.clear(PageFlag::Dirty); // its bytes live in the dirty PTE's page now
        swap.delete_from_swap_cache(page);
    }
    if ((vma.flags() & VmFlags::Locked) && m_machine.lruvec().mlock_page(page)) {
        m_machine.stat().inc(VmStatItem::NrMlock);
        m_machine.stat().inc(VmStatItem::UnevictablePgsMlocked);
    }
    // workingset_refault(): a page evicted recently enough belongs to the workingset.
    m_machine.stat().inc(VmStatItem::WorkingsetRefaultAnon);
    if (m_machine.workingset().refault_should_activate(m_machine.lruvec(), seen.shadow())) {
        m_machine.stat().inc(VmStatItem::WorkingsetActivateAnon);
        m_machine.lruvec().activate(page);
    }
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
            trace::note_major_fault();
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
    Pfn pfn = m_machine.arena().pfn_of(*page);
    swap_vma_readahead(vma, address, pfn);
    SwapState::wait_on_page_flag(*page, PageFlag::Locked);
    if (page->test(PageFlag::Error)) {
        m_machine.put_page(*page);
        return FaultResult::IoError; // never a zero page in place of lost data
    }
    SwapState::wait_on_page_flag(*page, PageFlag::Writeback);
    // While we slept, the page may have left the cache (freed after a failed write, or taken by
    // a racing fault): then it is not the entry's page any more.
    if (!page->test(PageFlag::SwapCache) || page->page_private() != entry.offset()) {
        m_machine.put_page(*page);
        if (m_page_table.lookup(address) != seen)
            return FaultResult::Handled;
        goto retry;
    }

    ScopedLock ptl(m_page_table_lock);
    PageTable::Entry* slot = m_page_table.walk(address);
    // PG_locked while the page is mapped: a write fault elsewhere decides whether it may keep a
    // shared page to itself (can_reuse_anon_page_locked()) only while nobody maps it anew.
    // Whoever holds it is quick; the access retries.
    if (!page->trylock()) {
        m_machine.put_page(*page);
        return FaultResult::Handled;
    }
    if (Pte(slot->load(std::memory_order_acquire)) != seen || !page->test(PageFlag::SwapCache)
        || page->page_private() != entry.offset()) {
        SwapState::clear_and_wake(*page, PageFlag::Locked);
        // If the PTE went (munmap), the cached copy may be all that is left of the slot.
        if (!(swap.device().slots().map_value(entry.offset()) == SwapSlots::kHasCache
                && swap.try_free_cached_page(*page)))
            m_machine.put_page(*page);
        return FaultResult::Handled; // the access retries and faults again if it must
    }
    // should_try_to_free_swap(): after a read fault the page stays in the swap cache, clean and
    // write-protected, so that reclaim can drop it again without writing it, unless swap is
    // half full or the memory is locked. A write fault takes it out of the cache now.
    SwapSlots& slots = swap.device().slots();
    // (Not in a view that cannot write-protect the page: a clean copy would not learn of the
    // first write.)
    bool keep_cached_on_read = !(vma.flags() & VmFlags::Locked) && slots.nr_free() > slots.total_slots() / 2
        && view_for(vma).capabilities().write_protect;
    // A slot that other swap PTEs still refer to (pages shared since a fork) keeps its page in
    // the cache, write-protected, so that they find the same page, and so that a page whose
    // bytes never reached the slot (PG_dirty) is not lost to them.
    bool shared_slot = (slots.map_value(entry.offset()) & SwapSlots::kCountMask) > 1;
    bool keep_cached = shared_slot
        || (keep_cached_on_read && access != FaultAccess::Write && !page->test(PageFlag::Dirty));
    // Writable only for its one user: a page another address space maps already (both got it
    // from the same slot) stays write-protected, and the first write copies it.
    bool exclusive = !shared_slot && page->mapcount.load(std::memory_order_acquire) == 0;
    std::uint64_t bits = Pte::kPresent | Pte::kUser | Pte::kAccessed;
    if (!keep_cached) {
        bits |= Pte::kDirty;
        if ((vma.flags() & VmFlags::Write) && exclusive)
            bits |= Pte::kWrite;
    }
    // Neighbours read ahead map along when they would get the same protection.
    PageFrame* around[kMaxSwapWindow];
    Pte seen_around[kMaxSwapWindow];
    std::size_t nr_around = keep_cached == keep_cached_on_read
        ? swap_fault_around_locked(vma, address, pfn, slot, around, seen_around)
        : 0;
    FaultResult result = install_locked(vma, address, pfn, 1 + nr_around, bits);
    if (result != FaultResult::Handled) {
        SwapState::clear_and_wake(*page, PageFlag::Locked);
        m_machine.put_page(*page);
        for (std::size_t i = 0; i < nr_around; ++i) {
            SwapState::clear_and_wake(*around[i], PageFlag::Locked);
            m_machine.put_page(*around[i]);
        }
        return result;
    }
    map_swap_page_locked(vma, *page, address, seen, keep_cached);
    SwapState::clear_and_wake(*page, PageFlag::Locked);
    for (std::size_t i = 0; i < nr_around; ++i) {
        VirtAddr next = address.page_offset(static_cast<std::int64_t>(i + 1));
        map_swap_page_locked(vma, *around[i], next, seen_around[i], keep_cached);
        SwapState::clear_and_wake(*around[i], PageFlag::Locked);
    }
    if (nr_around) {
        m_machine.stat().add(VmStatItem::PgFaultAround, static_cast<std::int64_t>(nr_around));
        vma.record_swapin(address.vpn() + 1 + nr_around);
    }
    return FaultResult::Handled;
}

} // namespace vmemu
