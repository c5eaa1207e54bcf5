#include <algorithm>
#include <cstring>
#include <ctime>
#include <vmemu/address_space.hpp>
#include <vmemu/base/log.hpp>
#include <vmemu/fs/inode.hpp>
#include <vmemu/fs/writeback.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/futex.hpp>
#include <vmemu/reclaim/swap_state.hpp>
#include <vmemu/reclaim/vmscan.hpp>
#include <vmemu/trace/latency.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

namespace {
VmStatItem scan_item(ReclaimMode mode) { return mode == ReclaimMode::Kswapd ? VmStatItem::PgScanKswapd : VmStatItem::PgScanDirect; }
VmStatItem steal_item(ReclaimMode mode) { return mode == ReclaimMode::Kswapd ? VmStatItem::PgStealKswapd : VmStatItem::PgStealDirect; }
} // namespace

void Vmscan::page_referenced(PageFrame** pages, std::size_t count, bool* referenced)
{
    SharedLock spaces(m_machine.spaces_lock());
    // Every place that may map each page, through the pages' anon_vmas.
    constexpr std::size_t kMaxPerPage = 8;
    struct Target {
        AddressSpace* space;
        std::uint64_t vpn;
        std::size_t page;
    };
    Target targets[AddressSpace::kMaxReferencedBatch];
    std::size_t nr_targets = 0;
    for (std::size_t i = 0; i < count; ++i) {
        referenced[i] = false;
        if (pages[i]->mapcount.load(std::memory_order_acquire) == 0)
            continue;
        RmapTarget found[kMaxPerPage];
        std::size_t nr_found = rmap_targets(*pages[i], found, kMaxPerPage);
        if (nr_found > kMaxPerPage || nr_targets + nr_found > AddressSpace::kMaxReferencedBatch) {
            referenced[i] = true; // too many places to look at in one batch: it stays
            continue;
        }
        for (std::size_t k = 0; k < nr_found; ++k)
            targets[nr_targets++] = Target { found[k].space, found[k].vpn, i };
    }
    // Each address space sees its own targets in one batch (there is usually one space).
    for (std::size_t i = 0; i < nr_targets; ++i) {
        AddressSpace* space = targets[i].space;
        if (!space)
            continue;
        AddressSpace::ReferencedTarget batch[AddressSpace::kMaxReferencedBatch];
        std::size_t where[AddressSpace::kMaxReferencedBatch];
        std::size_t size = 0;
        for (std::size_t k = i; k < nr_targets; ++k) {
            if (targets[k].space == space) {
                batch[size] = AddressSpace::ReferencedTarget { pages[targets[k].page], targets[k].vpn };
                where[size++] = targets[k].page;
                targets[k].space = nullptr;
            }
        }
        bool seen[AddressSpace::kMaxReferencedBatch];
        space->page_referenced_batch(batch, size, seen);
        for (std::size_t k = 0; k < size; ++k)
            referenced[where[k]] |= seen[k];
    }
}

Vmscan::UnmapOutcome Vmscan::try_to_unmap_file(PageFrame& page)
{
    // No rollback: a file page unmapped from some of its mappings is only refaulted there.
    SharedLock spaces(m_machine.spaces_lock());
    RmapTarget targets[kMaxMappings];
    std::size_t count = rmap_targets(page, targets, kMaxMappings);
    if (count > kMaxMappings)
        return UnmapOutcome::Failed;
    std::size_t done = 0;
    for (std::size_t i = 0; i < count; ++i) {
        auto result = targets[i].space->try_to_unmap_file_one(page, targets[i].vpn);
        if (result == AddressSpace::UnmapResult::Failed)
            return UnmapOutcome::Failed;
        done += result == AddressSpace::UnmapResult::Unmapped;
    }
    if (page.mapcount.load(std::memory_order_acquire) != 0)
        return UnmapOutcome::Failed;
    return done ? UnmapOutcome::Unmapped : UnmapOutcome::NotMapped;
}

Vmscan::UnmapOutcome Vmscan::try_to_unmap(PageFrame& page, std::uint64_t shadow)
{
    SharedLock spaces(m_machine.spaces_lock());
    RmapTarget targets[kMaxMappings];
    std::size_t count = rmap_targets(page, targets, kMaxMappings);
    if (count > kMaxMappings)
        return UnmapOutcome::Failed;
    SwapEntry entry(0, static_cast<std::uint32_t>(page.page_private()));
    bool unmapped[kMaxMappings] = {};
    std::size_t done = 0;
    bool failed = false;
    for (std::size_t i = 0; i < count && !failed; ++i) {
        auto result = targets[i].space->try_to_unmap_one(page, targets[i].vpn, shadow);
        unmapped[i] = result == AddressSpace::UnmapResult::Unmapped;
        done += unmapped[i];
        failed = result == AddressSpace::UnmapResult::Failed;
    }
    // A mapping the walk did not find (moved meanwhile) counts as a failure too.
    if (!failed && page.mapcount.load(std::memory_order_acquire) == 0)
        return done ? UnmapOutcome::Unmapped : UnmapOutcome::NotMapped;
    for (std::size_t i = 0; i < count; ++i) {
        if (unmapped[i])
            targets[i].space->restore_swap_pte(page, entry, targets[i].vpn);
    }
    return UnmapOutcome::Failed;
}

std::size_t Vmscan::restore_mappings(PageFrame& page, SwapEntry entry)
{
    SharedLock spaces(m_machine.spaces_lock());
    RmapTarget targets[kMaxMappings];
    std::size_t count = std::min(rmap_targets(page, targets, kMaxMappings), kMaxMappings);
    std::size_t restored = 0;
    for (std::size_t i = 0; i < count; ++i)
        restored += targets[i].space->restore_swap_pte(page, entry, targets[i].vpn);
    return restored;
}

void Vmscan::shrink_active_list(LruList list, std::size_t nr_to_scan, ReclaimMode)
{
    Lruvec& lruvec = m_machine.lruvec();
    PageFrame* pages[kSwapClusterMax];
    std::size_t wanted = std::min(nr_to_scan, kSwapClusterMax);
    std::size_t taken = lruvec.isolate(list, wanted, pages);
    m_machine.stat().add(VmStatItem::PgRefill, static_cast<std::int64_t>(taken));
    trace::emit(trace::Event::LruIsolate, wanted, taken, taken, static_cast<std::uint64_t>(list));
    // Pages are deactivated whether referenced or not; looking clears the bits, so that the
    // inactive list sees only references made from now on.
    bool referenced[kSwapClusterMax];
    page_referenced(pages, taken, referenced);
    std::size_t deactivated = 0;
    for (std::size_t i = 0; i < taken; ++i) {
        PageFrame& page = *pages[i];
        page.clear(PageFlag::Active);
        page.clear(PageFlag::Referenced);
        ++deactivated;
        if (lruvec.putback(page))
            m_machine.release_page(page);
    }
    m_machine.stat().add(VmStatItem::PgDeactivate, static_cast<std::int64_t>(deactivated));
    if (trace::enabled())
        trace::emit(trace::Event::LruShrinkActive, taken, 0, deactivated,
            static_cast<std::uint64_t>(std::count(referenced, referenced + taken, true)));
}

std::size_t Vmscan::shrink_inactive_list(LruList list, std::size_t nr_to_scan, ReclaimMode mode)
{
    PageFrame* pages[kSwapClusterMax];
    std::size_t wanted = std::min(nr_to_scan, kSwapClusterMax);
    std::size_t taken = m_machine.lruvec().isolate(list, wanted, pages);
    m_machine.stat().add(scan_item(mode), static_cast<std::int64_t>(taken));
    trace::emit(trace::Event::LruIsolate, wanted, taken, taken, static_cast<std::uint64_t>(list));
    if (taken == 0)
        return 0;
    ShrinkStats stats;
    std::size_t reclaimed = shrink_page_list(pages, taken, mode, References::Check, &stats);
    trace::emit(trace::Event::LruShrinkInactive, taken, reclaimed, stats.writeback, stats.activated, stats.unmap_failed);
    return reclaimed;
}

std::size_t Vmscan::shrink_page_list(PageFrame** pages, std::size_t count, ReclaimMode mode, References references,
    ShrinkStats* stats)
{
    ShrinkStats unused;
    if (!stats)
        stats = &unused;
    Lruvec& lruvec = m_machine.lruvec();
    SwapState* swap = m_machine.swap();
    std::size_t freed = 0;
    PageFrame* to_swap[kSwapClusterMax];
    std::size_t swapping = 0;
    auto keep = [&](PageFrame& page) {
        if (lruvec.putback(page)) {
            m_machine.release_page(page);
            ++freed;
        }
    };
    // A clean copy in the swap cache goes without a write; otherwise it stays on the LRU.
    auto free_or_keep = [&](PageFrame& page) {
        if (swap->try_free_cached_page(page)) {
            ++freed;
            m_machine.stat().inc(steal_item(mode));
        } else {
            keep(page);
        }
    };
    auto activate = [&](PageFrame& page) {
        ++stats->activated;
        page.set(PageFlag::Active);
        m_machine.stat().inc(VmStatItem::PgActivate);
        lruvec.age_nonresident(1);
        keep(page);
    };
    // The references of the whole batch at once; with References::Ignore the look only takes
    // the pages out of the hardware view, in runs, before they are unmapped one by one.
    bool referenced[kSwapClusterMax];
    page_referenced(pages, count, referenced);
    for (std::size_t i = 0; i < count; ++i) {
        PageFrame& page = *pages[i];
        bool mapped = page.mapcount.load(std::memory_order_acquire) > 0;
        if (!page.test(PageFlag::SwapBacked)) {
            switch (shrink_file_page(page, mode, references == References::Check && referenced[i])) {
            case FileVerdict::Freed:
                ++freed;
                break;
            case FileVerdict::Activate:
                activate(page);
                break;
            case FileVerdict::Writeback:
                ++stats->writeback;
                keep(page);
                break;
            case FileVerdict::Keep:
                keep(page);
                break;
            }
            continue;
        }
        if (!mapped && page.test(PageFlag::SwapCache)) {
            // A copy of a slot nobody maps (readahead, or left behind): drop it.
            free_or_keep(page);
            continue;
        }
        // A pinned page is in use by a system call (folio_maybe_dma_pinned()).
        if (!mapped || page.test(PageFlag::Unevictable) || !swap || page.pincount.load(std::memory_order_acquire)) {
            keep(page);
            continue;
        }
        if (references == References::Ignore) {
            to_swap[swapping++] = &page;
            continue;
        }
        // folio_check_references(): every mapped page was referenced by the fault that
        // instantiated it, so a page must be seen referenced twice to be activated.
        bool referenced_ptes = referenced[i];
        bool referenced_page = page.test(PageFlag::Referenced);
        page.clear(PageFlag::Referenced);
        if (referenced_ptes) {
            page.set(PageFlag::Referenced);
            if (referenced_page)
                activate(page);
            else
                keep(page);
            continue;
        }
        to_swap[swapping++] = &page;
    }
    if (swapping == 0)
        return freed;

    // A page that kept a clean copy in the swap cache (a read fault brought it in and it has not
    // been written since) needs no slot and no write: its slot still holds its data.
    PageFrame* need_slot[kSwapClusterMax];
    std::size_t needing = 0;
    PageFrame* ready[kSwapClusterMax];
    bool clean[kSwapClusterMax];
    std::size_t readied = 0;
    for (std::size_t i = 0; i < swapping; ++i) {
        if (to_swap[i]->test(PageFlag::SwapCache)) {
            // PG_dirty in the cache: the page's bytes never reached its slot (a failed write);
            // it is written again, to the slot it has.
            clean[readied] = !to_swap[i]->test(PageFlag::Dirty);
            ready[readied++] = to_swap[i];
        } else {
            need_slot[needing++] = to_swap[i];
        }
    }
    std::size_t with_slots = swap->add_to_swap(need_slot, needing);
    for (std::size_t i = with_slots; i < needing; ++i)
        activate(*need_slot[i]); // swap is full: keep them, as Linux does
    for (std::size_t i = 0; i < with_slots; ++i) {
        clean[readied] = false;
        ready[readied++] = need_slot[i];
    }
    SwapIo writes[kSwapClusterMax];
    std::size_t writing = 0;
    for (std::size_t i = 0; i < readied; ++i) {
        PageFrame& page = *ready[i];
        std::uint64_t shadow = m_machine.workingset().eviction_shadow(lruvec);
        // PG_writeback before the swap PTE appears: a fault that finds the page in the swap
        // cache must wait for the write, or it would free the slot under it.
        if (!clean[i])
            page.set(PageFlag::Writeback);
        if (try_to_unmap(page, shadow) != UnmapOutcome::Unmapped) {
            ++stats->unmap_failed;
            // Raced with munmap or with a write, or the kernel refused to drop the hardware
            // view: the page stays. A slot given to it just now goes back.
            if (!clean[i]) {
                SwapState::clear_and_wake(page, PageFlag::Writeback);
                // Unless a swap PTE the rollback could not reach (moved meanwhile) still
                // refers to the slot: then the page stays in the cache, dirty, for its fault.
                if (swap->device().slots().map_value(static_cast<std::uint32_t>(page.page_private()))
                    == SwapSlots::kHasCache)
                    swap->delete_from_swap_cache(page);
                else if (page.test(PageFlag::SwapCache))
                    page.set(PageFlag::Dirty);
            }
            // A clean copy whose mapping went away meanwhile goes now, slot and all.
            if (clean[i] && page.mapcount.load(std::memory_order_acquire) == 0 && swap->try_free_cached_page(page)) {
                ++freed;
                continue;
            }
            keep(page);
            continue;
        }
        lruvec.age_nonresident(1);
        if (clean[i]) {
            free_or_keep(page);
            continue;
        }
        // try_to_unmap() dropped the mappings' references; the cache's and the isolation's
        // remain until the write completes.
        page.clear(PageFlag::Dirty);
        m_machine.stat().inc(VmStatItem::NrWriteback);
        Pfn pfn = m_machine.arena().pfn_of(page);
        writes[writing++] = SwapIo { static_cast<std::uint32_t>(page.page_private()), m_machine.arena().direct_map(pfn),
            SwapState::write_user_data(pfn, mode), IoDirection::Write };
        trace::emit(trace::Event::WriteFolio, reinterpret_cast<std::uintptr_t>(&page), pfn.get());
    }
    stats->writeback += writing;
    if (writing)
        swap->submit(writes, writing); // one submission for the batch
    return freed + writing;
}

Vmscan::FileVerdict Vmscan::shrink_file_page(PageFrame& page, ReclaimMode mode, bool referenced_ptes)
{
    // A page whose read is in flight, or that a system call pinned, stays.
    if (page.test(PageFlag::Unevictable) || page.test(PageFlag::Locked) || page.pincount.load(std::memory_order_acquire))
        return FileVerdict::Keep;
    bool referenced_page = page.test(PageFlag::Referenced);
    page.clear(PageFlag::Referenced);
    if (referenced_ptes) {
        // folio_check_references(): a page mapped and used twice is part of the workingset.
        page.set(PageFlag::Referenced);
        return referenced_page ? FileVerdict::Activate : FileVerdict::Keep;
    }
    if (page.test(PageFlag::Writeback))
        return FileVerdict::Keep;
    auto& inode = *static_cast<Inode*>(page.page_mapping());
    if (page.mapcount.load(std::memory_order_acquire) > 0 && try_to_unmap_file(page) == UnmapOutcome::Failed)
        return FileVerdict::Keep;
    // A dirty page is written first and freed on a later pass; it never goes to swap.
    if (page.test(PageFlag::Dirty))
        return m_machine.writeback().write_page(inode, page, false) ? FileVerdict::Writeback : FileVerdict::Keep;
    // __remove_mapping(): only the cache and this isolation may hold it, then nobody can.
    if (!SwapState::freeze_refs(page, 2))
        return FileVerdict::Keep;
    if (page.test(PageFlag::Dirty) || page.mapcount.load(std::memory_order_acquire) != 0) {
        page.refcount.store(2, std::memory_order_release);
        return FileVerdict::Keep;
    }
    Lruvec& lruvec = m_machine.lruvec();
    inode.delete_from_page_cache(page, m_machine.workingset().eviction_shadow(lruvec));
    lruvec.age_nonresident(1);
    m_machine.stat().inc(steal_item(mode));
    m_machine.release_page(page);
    return FileVerdict::Freed;
}

void Vmscan::end_swap_write(PageFrame& page, int result, ReclaimMode mode)
{
    SwapState& swap = *m_machine.swap();
    trace::emit(trace::Event::SwapWriteDone, m_machine.arena().pfn_of(page).get(), static_cast<std::uint64_t>(result));
    m_machine.stat().dec(VmStatItem::NrWriteback);
    if (result < 0) {
        // The page is not on disk: it goes back into its PTE, resident and dirty, and reclaim
        // moves on. The error is counted every time and logged once.
        m_machine.stat().inc(VmStatItem::SwapWriteError);
        if (!m_write_error_logged.exchange(true))
            log().error("swap write failed: {}; the pages stay in memory", std::strerror(-result));
        SwapEntry entry(0, static_cast<std::uint32_t>(page.page_private()));
        restore_mappings(page, entry);
        // Out of the cache once no swap PTE refers to the slot any more. Otherwise (a PTE
        // moved out of the walk's sight) the page stays in the cache, dirty: it is never
        // dropped, and a fault on the entry finds it there.
        if (swap.device().slots().map_value(entry.offset()) == SwapSlots::kHasCache)
            swap.delete_from_swap_cache(page);
        else
            page.set(PageFlag::Dirty);
        SwapState::clear_and_wake(page, PageFlag::Writeback);
        page.set(PageFlag::Active);
        if (m_machine.lruvec().putback(page))
            m_machine.release_page(page);
        return;
    }
    m_machine.stat().inc(VmStatItem::PswpOut);
    SwapState::clear_and_wake(page, PageFlag::Writeback);
    // The cache's and the isolation's references are the last ones unless a fault took one.
    if (swap.try_free_cached_page(page)) {
        m_machine.stat().inc(steal_item(mode));
    } else if (m_machine.lruvec().putback(page)) {
        m_machine.release_page(page);
    }
}

std::size_t Vmscan::shrink_lru(LruList inactive, LruList active, ReclaimMode mode)
{
    Lruvec& lruvec = m_machine.lruvec();
    // inactive_is_low(): keep the inactive list at least as long as the active one.
    if (lruvec.size(inactive) < lruvec.size(active))
        shrink_active_list(active, kSwapClusterMax, mode);
    if (lruvec.size(inactive) == 0) {
        if (lruvec.size(active) == 0)
            return 0;
        shrink_active_list(active, kSwapClusterMax, mode);
    }
    return shrink_inactive_list(inactive, kSwapClusterMax, mode);
}

std::size_t Vmscan::shrink_node(std::size_t nr_to_reclaim, ReclaimMode mode, unsigned priority)
{
    Lruvec& lruvec = m_machine.lruvec();
    std::size_t reclaimed = 0;
    auto anon = [&] { return lruvec.size(LruList::InactiveAnon) + lruvec.size(LruList::ActiveAnon); };
    auto file = [&] { return lruvec.size(LruList::InactiveFile) + lruvec.size(LruList::ActiveFile); };
    // Scan at most every list twice per call.
    std::size_t budget = 2 * (anon() + file()) + kSwapClusterMax;
    std::size_t scanned = 0;
    while (reclaimed < nr_to_reclaim && scanned < budget) {
        // get_scan_count(), simplified: the page cache goes first while it is a fair part of
        // memory (cache trim mode); below that both lists are scanned, anonymous memory only
        // with swap to go to. Below the default priority, a round of the cache that freed
        // nothing (its pages dirty, under writeback or referenced) turns to anonymous memory
        // too: a cache of dirty pages must not starve reclaim of the memory it can free.
        bool plenty_of_cache = file() > m_machine.frame_count() / 16;
        std::size_t progress = 0;
        if (file())
            progress += shrink_lru(LruList::InactiveFile, LruList::ActiveFile, mode);
        bool cache_stalled = priority < kDefPriority && progress == 0;
        if (m_machine.swap() && anon() && (!plenty_of_cache || !file() || cache_stalled))
            progress += shrink_lru(LruList::InactiveAnon, LruList::ActiveAnon, mode);
        reclaimed += progress;
        scanned += kSwapClusterMax;
        if (!file() && !anon())
            break;
    }
    return reclaimed;
}

std::size_t Vmscan::reclaim_pages(PageFrame** pages, std::size_t count)
{
    std::size_t done = 0;
    for (std::size_t first = 0; first < count; first += kSwapClusterMax)
        done += shrink_page_list(pages + first, std::min(kSwapClusterMax, count - first), ReclaimMode::Direct,
            References::Ignore);
    return done;
}

bool Vmscan::direct_reclaim(std::size_t pages)
{
    SwapState* swap = m_machine.swap();
    const Watermarks& marks = m_machine.page_allocator().watermarks();
    std::size_t target = marks.min + pages;
    // mm_vmscan_direct_reclaim_begin and _end around the whole of it, and its latency.
    struct TraceScope {
        std::size_t reclaimed { 0 };
        std::uint64_t start { trace::measuring() ? trace::now_ns() : 0 };
        TraceScope() { trace::emit(trace::Event::DirectReclaimBegin, 0); }
        ~TraceScope()
        {
            trace::emit(trace::Event::DirectReclaimEnd, reclaimed);
            if (start)
                trace::record_latency(trace::Latency::DirectReclaim, trace::now_ns() - start);
        }
    } scope;
    // do_try_to_free_pages(): each attempt that frees nothing lowers the priority, which
    // widens the scan to anonymous memory when the cache cannot give.
    unsigned priority = kDefPriority;
    for (int attempt = 0; attempt < 16; ++attempt) {
        if (m_machine.free_frames() >= target)
            return true;
        std::uint32_t completions = swap ? swap->device().completions() : 0;
        std::size_t progress = shrink_node(std::max(pages, kSwapClusterMax), ReclaimMode::Direct, priority);
        scope.reclaimed += progress;
        if (m_machine.free_frames() >= target)
            return true;
        if (progress == 0 && priority > 0)
            --priority;
        bool swap_in_flight = swap && swap->device().in_flight() > 0;
        bool file_in_flight = m_machine.file_io_in_flight() > 0;
        if (progress == 0 && !swap_in_flight && !file_in_flight && priority < kDefPriority - 1)
            return false; // nothing left to reclaim, even with anonymous memory in the scan
        // Writeback frees frames when it completes: wait for a swap completion, or, as
        // reclaim_throttle(VMSCAN_THROTTLE_WRITEBACK) does, a moment for the file writes.
        if (swap_in_flight) {
            swap->device().wait_for_completion(completions);
        } else if (file_in_flight && progress == 0) {
            timespec moment { 0, 1'000'000 };
            nanosleep(&moment, nullptr);
        }
    }
    // Frames it freed may have gone to other allocations: progress all the same.
    return scope.reclaimed > 0 || m_machine.free_frames() >= target;
}

} // namespace vmemu
