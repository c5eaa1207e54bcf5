// The faults of file mappings (mm/memory.c's do_fault() family, with filemap_map_pages()):
// a read maps the page-cache page itself, read-only, with its cached neighbours; a write to a
// shared mapping dirties the page; a write to a private mapping copies it into an anonymous
// page (do_cow_fault()). Async-signal-safe, as all of the fault path.
#include <cstring>
#include <vmemu/address_space.hpp>
#include <vmemu/fs/filemap.hpp>
#include <vmemu/fs/inode.hpp>
#include <vmemu/fs/writeback.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/reclaim/swap_state.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

namespace {
constexpr std::uint64_t kFilePteBits = Pte::kPresent | Pte::kUser | Pte::kAccessed;
// fault_around_bytes: 64 KiB.
constexpr std::size_t kFaultAroundPages = 16;
} // namespace

FaultResult AddressSpace::do_fault(Vma& vma, VirtAddr address, FaultAccess access)
{
    Inode& inode = *vma.file();
    FilemapFault found = filemap_fault(m_machine, inode, vma.linear_index(address), vma.flags());
    if (found.result != FaultResult::Handled)
        return found.result;
    PageFrame& page = *found.page;
    if (access == FaultAccess::Write && !(vma.flags() & VmFlags::Shared))
        return do_cow_fault(vma, address, page);
    bool write = access == FaultAccess::Write;
    FaultResult result = FaultResult::Handled;
    // A write dirties the page under its lock, which writeback holds from page_mkclean() to
    // clearing PG_dirty: the page is never clean with a writable PTE.
    if (write)
        lock_page(page);
    {
        ScopedLock ptl(m_page_table_lock);
        PageTable::Entry* slot = m_page_table.walk(address);
        if (slot->load(std::memory_order_acquire) != 0) {
            result = FaultResult::Handled; // a racing fault mapped it first
        } else if (!write) {
            m_machine.lruvec().mark_page_accessed(page);
            return filemap_map_pages_locked(vma, address, page);
        } else {
            m_machine.lruvec().mark_page_accessed(page);
            m_machine.writeback().set_page_dirty(inode, page);
            result = install_locked(vma, address, m_machine.arena().pfn_of(page), 1,
                kFilePteBits | Pte::kWrite | Pte::kDirty);
            if (result == FaultResult::Handled) {
                m_machine.page_add_file_rmap(page); // the mapping keeps filemap_fault()'s reference
                SwapState::clear_and_wake(page, PageFlag::Locked);
                m_machine.writeback().balance_dirty_pages();
                return result;
            }
        }
    }
    if (write)
        SwapState::clear_and_wake(page, PageFlag::Locked);
    m_machine.put_page(page);
    return result;
}

void AddressSpace::lock_page(PageFrame& page)
{
    // folio_lock(): held briefly by writeback and truncation, never by a fault that waits.
    while (!page.trylock())
        SwapState::wait_on_page_flag(page, PageFlag::Locked);
}

FaultResult AddressSpace::filemap_map_pages_locked(Vma& vma, VirtAddr address, PageFrame& faulting)
{
    // The faulting page and its cached neighbours in the aligned 64 KiB around it, inside the
    // VMA, the PTE table and the file, mapped read-only: a clean page is mapped read-only even
    // where the VMA may write, so that its first write is seen and dirties it.
    Inode& inode = *vma.file();
    std::uint64_t vpn = address.vpn();
    std::uint64_t first = std::max(vpn & ~std::uint64_t { kFaultAroundPages - 1 }, vma.start().vpn());
    std::uint64_t last = std::min((vpn | (kFaultAroundPages - 1)), vma.end().vpn() - 1);
    std::uint64_t size_pages = inode.size_pages();
    struct Candidate {
        std::uint64_t vpn;
        PageFrame* page;
    };
    Candidate candidates[kFaultAroundPages];
    std::size_t count = 0;
    for (std::uint64_t at = first; at <= last; ++at) {
        if (at == vpn) {
            candidates[count++] = Candidate { at, &faulting };
            continue;
        }
        VirtAddr where(at << kPageShift);
        std::uint64_t index = vma.linear_index(where);
        if (index >= size_pages)
            continue; // (a truncation may have passed the faulting page too: it is mapped anyway)
        PageTable::Entry* slot = m_page_table.walk(where);
        if (!slot || slot->load(std::memory_order_acquire) != 0)
            continue;
        PageFrame* page = inode.cache().find_get(index);
        if (!page)
            continue;
        // A page being read, or the readahead marker (whose fault starts the next window),
        // is left to its own fault.
        if (!page->test(PageFlag::Uptodate) || page->test(PageFlag::Locked) || page->test(PageFlag::Readahead)) {
            m_machine.put_page(*page);
            continue;
        }
        candidates[count++] = Candidate { at, page };
    }
    // One kernel mapping for each run of neighbours in neighbouring frames (readahead gives
    // a window contiguous frames where it can).
    FrameArena& arena = m_machine.arena();
    FaultResult result = FaultResult::Handled;
    std::size_t around = 0;
    for (std::size_t i = 0; i < count;) {
        std::size_t end = i + 1;
        while (end < count && candidates[end].vpn == candidates[end - 1].vpn + 1
            && arena.pfn_of(*candidates[end].page) == arena.pfn_of(*candidates[end - 1].page) + 1)
            ++end;
        FaultResult installed = install_locked(vma, VirtAddr(candidates[i].vpn << kPageShift),
            arena.pfn_of(*candidates[i].page), end - i, kFilePteBits);
        for (std::size_t k = i; k < end; ++k) {
            bool is_faulting = candidates[k].page == &faulting;
            if (installed != FaultResult::Handled) {
                m_machine.put_page(*candidates[k].page);
                if (is_faulting)
                    result = installed;
                continue;
            }
            m_machine.page_add_file_rmap(*candidates[k].page); // the mapping keeps the reference
            around += !is_faulting;
        }
        i = end;
    }
    m_machine.stat().add(VmStatItem::PgFaultAround, static_cast<std::int64_t>(around));
    return result;
}

FaultResult AddressSpace::do_cow_fault(Vma& vma, VirtAddr address, PageFrame& page)
{
    // The private copy, made before the lock is taken; the page-cache page is only read.
    FrameArena& arena = m_machine.arena();
    auto fresh = m_machine.page_allocator().alloc_contig(1, neighbour_hint(address, 1), ZeroFill::No);
    if (!fresh) {
        m_machine.put_page(page);
        return FaultResult::OutOfMemory;
    }
    std::memcpy(arena.direct_map(*fresh), arena.direct_map(arena.pfn_of(page)), kPageSize);
    m_machine.put_page(page);
    FaultResult result = FaultResult::Handled;
    bool installed = false;
    {
        ScopedLock ptl(m_page_table_lock);
        PageTable::Entry* slot = m_page_table.walk(address);
        if (slot->load(std::memory_order_acquire) == 0) {
            result = install_locked(vma, address, *fresh, 1, kFilePteBits | Pte::kWrite | Pte::kDirty);
            installed = result == FaultResult::Handled;
        }
        if (installed) {
            add_new_anon_pages_locked(vma, *fresh, 1, address);
            m_machine.stat().inc(VmStatItem::CowFault);
        }
    }
    if (!installed)
        m_machine.page_allocator().free_page(*fresh);
    return result;
}

FaultResult AddressSpace::wp_page_shared(Vma& vma, VirtAddr address, Pte seen)
{
    // The page, held, then locked without the page_table_lock (writeback takes the two the
    // other way round), then the PTE checked again.
    PageFrame* page;
    {
        ScopedLock ptl(m_page_table_lock);
        PageTable::Entry* slot = m_page_table.walk(address);
        if (Pte(slot->load(std::memory_order_acquire)) != seen)
            return FaultResult::Handled;
        page = &m_machine.arena().frame(seen.pfn());
        page->refcount.fetch_add(1, std::memory_order_acq_rel);
    }
    lock_page(*page);
    FaultResult result = FaultResult::Handled;
    {
        ScopedLock ptl(m_page_table_lock);
        PageTable::Entry* slot = m_page_table.walk(address);
        Pte pte(slot->load(std::memory_order_acquire));
        if (pte.present() && pte.pfn() == seen.pfn() && !pte.writable()) {
            m_machine.writeback().set_page_dirty(*vma.file(), *page);
            result = install_locked(vma, address, pte.pfn(), 1, pte.raw() | Pte::kWrite | Pte::kDirty | Pte::kAccessed);
        }
    }
    SwapState::clear_and_wake(*page, PageFlag::Locked);
    m_machine.put_page(*page);
    m_machine.writeback().balance_dirty_pages();
    return result;
}

AddressSpace::MkcleanResult AddressSpace::page_mkclean_one(PageFrame& page, std::uint64_t vpn)
{
    ScopedLock ptl(m_page_table_lock);
    PageTable::Entry* slot = pte_mapping_page_locked(page, vpn);
    if (!slot)
        return MkcleanResult::Clean;
    Pte pte(slot->load(std::memory_order_acquire));
    if (!pte.writable() && !pte.dirty())
        return MkcleanResult::Clean;
    // A page pinned for a system call stays writable in the kernel's view, which may be
    // writing it this moment (a read(2) into the mapping): it is written back now and stays
    // dirty, to be written again (folio_maybe_dma_pinned()).
    if (page.pincount.load(std::memory_order_acquire) > 0)
        return MkcleanResult::Failed;
    // The kernel's writable view goes first: a write from now on faults.
    VirtAddr address(vpn << kPageShift);
    if (pte.hw_writable() && !unmap_hardware_range_locked(address, address.offset(kPageSize)))
        return MkcleanResult::Failed;
    slot->fetch_and(~(Pte::kWrite | Pte::kDirty), std::memory_order_acq_rel);
    return MkcleanResult::Cleaned;
}

void AddressSpace::unmap_mapping_range(std::uint64_t first_vpn, std::uint64_t last_vpn)
{
    VirtAddr start(first_vpn << kPageShift);
    VirtAddr end((last_vpn + 1) << kPageShift);
    if (!in_reservation_range(start, end - start))
        return;
    ScopedLock ptl(m_page_table_lock);
    (void)zap_ptes_locked(start, end);
}

} // namespace vmemu
