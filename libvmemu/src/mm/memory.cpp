// The fault path (mm/memory.c): handle_mm_fault() and the handlers it dispatches to, and the
// teardown of PTEs. Everything reachable from handle_mm_fault() is async-signal-safe: no heap,
// no exceptions, no logging; frames come from the buddy allocator, table pages too.
#include <algorithm>
#include <cstring>
#include <vmemu/address_space.hpp>
#include <vmemu/fs/inode.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/futex.hpp>
#include <vmemu/sync/scoped_lock.hpp>
#include <vmemu/trace/latency.hpp>

namespace vmemu {

namespace {
// The largest fault-around window: one PTE table, 2 MiB.
constexpr std::size_t kMaxFaultAround = PageTable::kEntries;
constexpr std::uint64_t kAnonPteBits = Pte::kPresent | Pte::kUser | Pte::kAccessed;
} // namespace

FaultResult AddressSpace::handle_mm_fault(VirtAddr address, FaultAccess access) noexcept
{
    trace::FaultType type = trace::FaultType::Error;
    if (!trace::measuring()) [[likely]]
        return dispatch_fault(address, access, type);
    // exceptions:page_fault_user, with the x86 error code's user, write and fetch bits.
    std::uint64_t error_code = 4 | (access == FaultAccess::Write ? 2 : 0) | (access == FaultAccess::Exec ? 16 : 0);
    trace::emit(trace::Event::PageFaultUser, address.get(), 0, error_code);
    std::uint64_t start = trace::now_ns();
    trace::detail::t_major_fault = false;
    FaultResult result = dispatch_fault(address, access, type);
    if (result != FaultResult::Handled)
        type = trace::FaultType::Error;
    else if (type == trace::FaultType::Minor && trace::detail::t_major_fault)
        type = trace::FaultType::Major;
    std::uint64_t latency = trace::now_ns() - start;
    trace::emit(trace::Event::PageFaultExit, address.get(), static_cast<std::uint64_t>(type), latency);
    if (type != trace::FaultType::Error)
        trace::record_latency(type == trace::FaultType::Major ? trace::Latency::MajorFault : trace::Latency::MinorFault,
            latency);
    return result;
}

FaultResult AddressSpace::dispatch_fault(VirtAddr address, FaultAccess access, trace::FaultType& type) noexcept
{
    SharedLock guard(m_mmap_lock);
    Vma* vma = m_vmas.find_vma(address);
    if (!vma || vma->start() > address) {
        m_machine.stat().inc(VmStatItem::SegvMapErr);
        return FaultResult::MapError;
    }
    if (!vma->permits(access)) {
        m_machine.stat().inc(VmStatItem::SegvAccErr);
        return FaultResult::AccessError;
    }
    m_machine.stat().inc(VmStatItem::PgFault);
    VirtAddr page = address.page_base();
    PageTable::Entry* slot = m_page_table.walk_alloc(page);
    if (!slot)
        return FaultResult::OutOfMemory;
    Pte pte(slot->load(std::memory_order_acquire));
    if (pte.pending()) {
        // Another thread is mapping the page (install_new_userfault_pages()): the access retries.
        os::cpu_relax();
        return FaultResult::Handled;
    }
    if (pte.none() && vma->file()) {
        type = trace::FaultType::Minor; // Major when it waits for a read (trace::note_major_fault())
        return do_fault(*vma, page, access);
    }
    if (pte.none()) {
        type = access == FaultAccess::Write ? trace::FaultType::Anonymous : trace::FaultType::ZeroPage;
        return access == FaultAccess::Write ? do_anonymous_page(*vma, page) : do_zero_page(*vma, page);
    }
    if (pte.is_swap()) {
        type = trace::FaultType::Minor;
        return do_swap_page(*vma, page, pte, access);
    }
    if (access == FaultAccess::Write && !pte.writable()) {
        type = trace::FaultType::Cow;
        // A shared file page is written in place: the write only dirties it.
        if (vma->is_shared_file())
            return wp_page_shared(*vma, page, pte);
        return do_wp_page(*vma, page, pte);
    }
    type = trace::FaultType::Hinting;
    return sync_hardware_view(*vma, page, *slot);
}

std::size_t AddressSpace::fault_around_pages(Vma& vma, VirtAddr address) const
{
    std::size_t window = 1;
    if (vma.flags() & VmFlags::SeqRead) {
        window = kMaxFaultAround;
    } else if (!(vma.flags() & VmFlags::RandRead) && address.vpn() == vma.next_sequential_vpn()) {
        // A sequential stream: double the window, as readahead does, up to one PTE table.
        window = std::min<std::size_t>(std::max<std::size_t>(vma.fault_around_window(), 1) * 2, kMaxFaultAround);
    }
    std::size_t to_vma_end = pages_between(address, vma.end());
    std::size_t to_table_end = PageTable::kEntries - (address.vpn() & (PageTable::kEntries - 1));
    return std::min({ window, to_vma_end, to_table_end });
}

std::optional<Pfn> AddressSpace::neighbour_hint(VirtAddr address, std::size_t count) const
{
    const FrameArena& arena = m_machine.arena();
    if (address > m_reservation_start) {
        Pte left = m_page_table.lookup(address.page_offset(-1));
        if (left.present() && !arena.is_zero_pfn(left.pfn()) && left.pfn().get() + 1 + count <= arena.frame_count())
            return left.pfn() + 1;
    }
    VirtAddr after = address.page_offset(static_cast<std::int64_t>(count));
    if (after < m_reservation_end) {
        Pte right = m_page_table.lookup(after);
        if (right.present() && !arena.is_zero_pfn(right.pfn()) && right.pfn().get() >= count)
            return right.pfn() - count;
    }
    return std::nullopt;
}

FaultResult AddressSpace::do_anonymous_page(Vma& vma, VirtAddr address)
{
    PageAllocator& allocator = m_machine.page_allocator();
    std::size_t window = fault_around_pages(vma, address);
    std::size_t count = window;
    std::optional<Pfn> first;
    // Pages mapped ahead are a bet on the stream going on: they never cost reclaim, and
    // below the high watermark there is no bet at all.
    if (m_machine.free_frames() < allocator.watermarks().high + count)
        count = 1;
    // Zero the frames before taking the lock, as Linux does; a racing fault may waste them.
    // A view that fills zeros puts them into the pages instead: the frames' bytes are not read.
    bool view_fills = view_for(vma).capabilities().fills_zeros;
    ZeroFill zero = view_fills ? ZeroFill::ByMapper : ZeroFill::Yes;
    for (;;) {
        MayReclaim reclaim = count == 1 ? MayReclaim::Yes : MayReclaim::No;
        first = allocator.alloc_contig(count, neighbour_hint(address, count), zero, reclaim);
        if (first)
            break;
        if (count == 1)
            return FaultResult::OutOfMemory;
        count /= 2;
    }
    std::size_t installed = 0;
    FaultResult result = FaultResult::Handled; // when a racing fault mapped the page first
    if (view_fills) {
        installed = reserve_empty_slots(address, count);
        if (installed > 0)
            result = install_zero_filled_pages(vma, address, *first, installed);
        if (result != FaultResult::Handled)
            installed = 0;
    } else {
        ScopedLock ptl(m_page_table_lock);
        PageTable::Entry* slots = m_page_table.walk(address);
        while (installed < count && slots[installed].load(std::memory_order_acquire) == 0)
            ++installed;
        if (installed > 0) {
            result = install_locked(vma, address, *first, installed, kAnonPteBits | Pte::kWrite | Pte::kDirty);
            if (result != FaultResult::Handled)
                installed = 0;
        }
        add_new_anon_pages_locked(vma, *first, installed, address);
    }
    if (installed < count)
        allocator.free_contig(*first + installed, count - installed);
    if (installed > 0) {
        m_machine.stat().add(VmStatItem::PgFaultAround, static_cast<std::int64_t>(installed - 1));
        vma.record_fault(address.vpn() + installed, static_cast<std::uint32_t>(window));
    }
    return result;
}

std::size_t AddressSpace::reserve_empty_slots(VirtAddr address, std::size_t count)
{
    ScopedLock ptl(m_page_table_lock);
    PageTable::Entry* slots = m_page_table.walk(address);
    std::size_t reserved = 0;
    while (reserved < count && slots[reserved].load(std::memory_order_acquire) == 0)
        slots[reserved++].store(Pte::kPending, std::memory_order_release);
    return reserved;
}

FaultResult AddressSpace::install_zero_filled_pages(Vma& vma, VirtAddr address, Pfn first, std::size_t count)
{
    // The view fills the pages without the page_table_lock, so that the faults of other
    // threads, in other pages, go on meanwhile. The pending PTEs keep every other fault off
    // these pages until they are mapped (it retries); nothing else reaches them: what would
    // clear or change a PTE (munmap, mprotect, madvise, fork) holds the mmap_lock for writing,
    // and reclaim finds only the pages on the LRU.
    HardwareView& view = view_for(vma);
    std::uint64_t pte_bits = view_pte_bits(vma, view, kAnonPteBits | Pte::kWrite | Pte::kDirty);
    os::HwProt prot = hw_prot(vma, pte_bits & Pte::kWrite);
    HwMapOutcome outcome = view.map(address, first, count, prot, HwFill::Zero);
    ScopedLock ptl(m_page_table_lock);
    PageTable::Entry* slots = m_page_table.walk(address);
    if (outcome != HwMapOutcome::Mapped) {
        for (std::size_t i = 0; i < count; ++i)
            slots[i].store(0, std::memory_order_release);
        return outcome == HwMapOutcome::OutOfMemory ? FaultResult::OutOfMemory : FaultResult::KernelRefused;
    }
    store_installed_ptes_locked(address, first, count, pte_bits, view.pte_bits(prot));
    add_new_anon_pages_locked(vma, first, count, address);
    return FaultResult::Handled;
}

void AddressSpace::add_new_anon_pages_locked(const Vma& vma, Pfn first, std::size_t count, VirtAddr address)
{
    // The frames are reachable through their PTEs now; reclaim finds them on the LRU from here.
    bool locked = vma.flags() & VmFlags::Locked;
    for (std::size_t i = 0; i < count; ++i) {
        PageFrame& frame = m_machine.arena().frame(first + i);
        frame.mapcount.store(1, std::memory_order_relaxed);
        frame.set_page_mapping(vma.anon_vma());
        frame.set_page_index(vma.linear_index(address) + i);
        frame.set(PageFlag::SwapBacked);
        if (locked) {
            frame.set(PageFlag::Mlocked);
            frame.set(PageFlag::Unevictable);
            m_machine.stat().inc(VmStatItem::NrMlock);
            m_machine.stat().inc(VmStatItem::UnevictablePgsMlocked);
        }
        m_machine.lruvec().add(frame);
    }
    m_machine.stat().add(VmStatItem::NrAnonPages, static_cast<std::int64_t>(count));
}

FaultResult AddressSpace::do_zero_page(Vma& vma, VirtAddr address)
{
    // A view without the zero page would map the zero frame writable when the VMA is, and take
    // the program's writes unseen.
    HwCapabilities view = view_for(vma).capabilities();
    if (!view.zero_page)
        return do_anonymous_page(vma, address);
    if (view.racy_zero_page && !reserve_zero_page_frame())
        return FaultResult::OutOfMemory;
    ScopedLock ptl(m_page_table_lock);
    PageTable::Entry* slot = m_page_table.walk(address);
    if (slot->load(std::memory_order_acquire) != 0)
        return FaultResult::Handled;
    Pfn zero = m_machine.arena().zero_pfn(address.vpn());
    FaultResult result = install_locked(vma, address, zero, 1, kAnonPteBits);
    if (result == FaultResult::Handled && Pte(slot->load(std::memory_order_acquire)).pfn() == zero) {
        m_machine.stat().inc(VmStatItem::NrZeroPageMappings);
        m_machine.stat().inc(VmStatItem::PgFaultZeroPage);
    }
    return result;
}

bool AddressSpace::can_reuse_anon_page_locked(PageFrame& page)
{
    // wp_can_reuse_anon_folio(): this PTE must be the page's only user, and no swap PTE may
    // still expect the bytes its slot caches. PG_locked keeps a swap fault elsewhere from
    // mapping the page meanwhile; when somebody else holds it, the fault copies instead.
    // A page-cache page is never reused: a private mapping's write copies it.
    if (!page.test(PageFlag::SwapBacked) || page.mapcount.load(std::memory_order_acquire) != 1 || !page.trylock())
        return false;
    bool reuse = page.mapcount.load(std::memory_order_acquire) == 1;
    if (reuse && page.test(PageFlag::SwapCache)) {
        SwapState& swap = *m_machine.swap();
        auto slot = static_cast<std::uint32_t>(page.page_private());
        // A page kept in the swap cache after a read fault is clean: its slot still holds its
        // data. Writing it makes the slot stale, so the page leaves the cache first.
        reuse = (swap.device().slots().map_value(slot) & SwapSlots::kCountMask) == 0
            && !page.test(PageFlag::Writeback);
        if (reuse)
            swap.delete_from_swap_cache(page);
    }
    SwapState::clear_and_wake(page, PageFlag::Locked);
    return reuse;
}

FaultResult AddressSpace::do_wp_page(Vma& vma, VirtAddr address, Pte seen)
{
    FrameArena& arena = m_machine.arena();
    PageFrame* old = nullptr;
    if (!arena.is_zero_pfn(seen.pfn())) {
        ScopedLock ptl(m_page_table_lock);
        PageTable::Entry* slot = m_page_table.walk(address);
        Pte pte(slot->load(std::memory_order_acquire));
        if (pte != seen)
            return FaultResult::Handled;
        PageFrame& page = arena.frame(pte.pfn());
        if (can_reuse_anon_page_locked(page)) {
            m_machine.stat().inc(VmStatItem::PgReuse);
            return install_locked(vma, address, pte.pfn(), 1, pte.raw() | Pte::kWrite | Pte::kDirty | Pte::kAccessed);
        }
        // Shared: the copy's source stays while it is copied, without the lock.
        page.refcount.fetch_add(1, std::memory_order_acq_rel);
        old = &page;
    }
    // wp_page_copy(): a fresh frame with the shared page's bytes, or zeroed for the zero page.
    // Nobody writes the shared page meanwhile: every PTE that maps it is write-protected, and
    // one becomes writable again only when it is the page's last.
    auto fresh = m_machine.page_allocator().alloc_contig(1, neighbour_hint(address, 1),
        old ? ZeroFill::No : ZeroFill::Yes);
    if (!fresh) {
        if (old)
            m_machine.put_page(*old);
        return FaultResult::OutOfMemory;
    }
    if (old)
        std::memcpy(arena.direct_map(*fresh), arena.direct_map(arena.pfn_of(*old)), kPageSize);
    FaultResult result = FaultResult::Handled;
    bool installed = false;
    {
        ScopedLock ptl(m_page_table_lock);
        PageTable::Entry* slot = m_page_table.walk(address);
        if (Pte(slot->load(std::memory_order_acquire)) == seen) {
            result = install_locked(vma, address, *fresh, 1, kAnonPteBits | Pte::kWrite | Pte::kDirty);
            installed = result == FaultResult::Handled;
        }
        if (installed) {
            add_new_anon_pages_locked(vma, *fresh, 1, address);
            if (old) {
                m_machine.stat().inc(VmStatItem::CowFault);
                m_machine.page_remove_rmap(*old);
                m_machine.put_page(*old); // the old PTE's reference
            } else {
                m_machine.stat().dec(VmStatItem::NrZeroPageMappings);
            }
        }
    }
    if (!installed)
        m_machine.page_allocator().free_page(*fresh);
    if (old)
        m_machine.put_page(*old);
    return result;
}

FaultResult AddressSpace::sync_hardware_view(Vma& vma, VirtAddr address, PageTable::Entry& slot)
{
    // A zero page mapped again needs a frame held back, as a new one does (do_zero_page()).
    Pte seen(slot.load(std::memory_order_acquire));
    if (seen.present() && m_machine.arena().is_zero_pfn(seen.pfn()) && view_for(vma).capabilities().racy_zero_page
        && !reserve_zero_page_frame())
        return FaultResult::OutOfMemory;
    ScopedLock ptl(m_page_table_lock);
    Pte pte(slot.load(std::memory_order_acquire));
    if (!pte.present())
        return FaultResult::Handled;
    m_machine.stat().inc(VmStatItem::PgFaultSpurious);
    // The hardware view may lag behind the PTE (after mprotect, mremap or an eviction); catch
    // it up for the whole run of neighbours in the same state, within this VMA and PTE table.
    std::uint64_t wanted = hw_bits_for(vma, pte.writable());
    if ((pte.raw() & Pte::kHwBits) == wanted)
        return FaultResult::Handled; // a racing fault already did
    // Neighbours without their accessed bit stay out: reclaim is watching for their next touch.
    auto lags_in_step = [&](PageTable::Entry& other, std::int64_t distance) {
        Pte neighbour(other.load(std::memory_order_acquire));
        return neighbour.present() && !neighbour.hw_mapped() && neighbour.accessed()
            && neighbour.writable() == pte.writable()
            && neighbour.pfn().get() == pte.pfn().get() + static_cast<std::uint64_t>(distance);
    };
    std::uint64_t index = address.vpn() & (PageTable::kEntries - 1);
    VirtAddr table_start = address.page_offset(-static_cast<std::int64_t>(index));
    VirtAddr low = std::max(vma.start(), table_start);
    VirtAddr high = std::min(vma.end(), table_start.offset(PageTable::kPteTableSpan));
    std::int64_t before = 0;
    while (address.page_offset(-before - 1) >= low && lags_in_step((&slot)[-before - 1], -before - 1))
        ++before;
    std::int64_t after = 0;
    while (address.page_offset(after + 1) < high && lags_in_step((&slot)[after + 1], after + 1))
        ++after;
    if (pte.hw_mapped() || m_machine.arena().is_zero_pfn(pte.pfn()))
        before = after = 0; // only this page's protection lags, or a zero page maps alone
    FaultResult result = install_locked(vma, address.page_offset(-before),
        pte.pfn() - static_cast<std::uint64_t>(before), static_cast<std::size_t>(before + after + 1),
        pte.raw() & (Pte::kPresent | Pte::kUser | Pte::kWrite));
    slot.fetch_or(Pte::kAccessed, std::memory_order_acq_rel);
    return result;
}

VmResult<void> AddressSpace::zap_page_range_locked(VirtAddr start, VirtAddr end)
{
    ScopedLock ptl(m_page_table_lock);
    return zap_ptes_locked(start, end);
}

bool AddressSpace::only_dying_pages_locked(VirtAddr start, VirtAddr end) const
{
    // A page whose only reference is this PTE is freed with it: nobody reads its bytes again.
    const FrameArena& arena = m_machine.arena();
    bool dying = true;
    m_page_table.for_each_slot(start, end, [&](VirtAddr, PageTable::Entry& slot) {
        Pte pte(slot.load(std::memory_order_relaxed));
        if (!dying || !pte.hw_mapped())
            return;
        if (!view_of(pte).capabilities().holds_bytes) {
            dying = false; // a mapping of a frame, which MADV_DONTNEED would not remove
            return;
        }
        if (arena.is_zero_pfn(pte.pfn()))
            return; // nothing to keep
        const PageFrame& frame = arena.frame(pte.pfn());
        dying = frame.test(PageFlag::SwapBacked) && !frame.test(PageFlag::SwapCache)
            && frame.refcount.load(std::memory_order_acquire) == 1 && frame.mapcount.load(std::memory_order_acquire) == 1
            && frame.pincount.load(std::memory_order_acquire) == 0;
    });
    return dying;
}

VmResult<void> AddressSpace::zap_ptes_locked(VirtAddr start, VirtAddr end)
{
    // A view that holds a mapped page's bytes: when every page of the range dies here, they are
    // dropped, not taken back to frames that are then freed.
    if (private_view().capabilities().holds_bytes && only_dying_pages_locked(start, end))
        VM_TRY(private_view().discard(start, end));
    else
        VM_TRY(unmap_hardware_range_locked(start, end));
    FrameArena& arena = m_machine.arena();
    std::int64_t zero_pages = 0;
    m_page_table.for_each_slot(start, end, [&](VirtAddr, PageTable::Entry& slot) {
        Pte pte(slot.exchange(0, std::memory_order_acq_rel));
        if (pte.is_swap()) {
            m_machine.swap()->swap_free(pte.swap_entry());
            return;
        }
        if (!pte.present())
            return;
        if (arena.is_zero_pfn(pte.pfn())) {
            ++zero_pages;
            return;
        }
        PageFrame& frame = arena.frame(pte.pfn());
        // zap_pte_range(): what was written through a file PTE stays to be written back.
        if (pte.dirty() && !frame.test(PageFlag::SwapBacked))
            m_machine.writeback().set_page_dirty(*static_cast<Inode*>(frame.page_mapping()), frame);
        // The last mapping of a locked page unlocks it; a page still shared stays locked.
        if (frame.mapcount.load(std::memory_order_acquire) == 1 && m_machine.lruvec().munlock_page(frame)) {
            m_machine.stat().dec(VmStatItem::NrMlock);
            m_machine.stat().inc(VmStatItem::UnevictablePgsMunlocked);
        }
        m_machine.page_remove_rmap(frame);
        // A clean page kept in the swap cache goes with its slot, unless reclaim holds it.
        if (frame.test(PageFlag::SwapCache) && m_machine.swap()->try_free_cached_page(frame))
            return;
        m_machine.put_page(frame);
    });
    m_machine.stat().add(VmStatItem::NrZeroPageMappings, -zero_pages);
    return {};
}

} // namespace vmemu
