// mlock(2) and munlock(2) on an AddressSpace (mm/mlock.c): VM_LOCKED on the VMAs, the pages
// on the unevictable list, and the range faulted in.
#include <vmemu/address_space.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/memory.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

namespace {
// do_mlock(): the start rounds down and the length up, to whole pages.
struct PageRange {
    VirtAddr start;
    VirtAddr end;
};
std::optional<PageRange> whole_pages(VirtAddr address, std::size_t length)
{
    std::uintptr_t offset = address.get() & ~kPageMask;
    std::uintptr_t size = page_round_up(length + offset);
    VirtAddr start = address.page_base();
    if ((length != 0 && size == 0) || start.get() + size < start.get())
        return std::nullopt;
    return PageRange { start, start.offset(size) };
}
} // namespace

VmResult<void> AddressSpace::apply_vm_flag_locked(VirtAddr start, VirtAddr end, std::uint32_t flag, bool set)
{
    VM_TRY(split_at_locked(start, end));
    for (Vma* vma = m_vmas.find_vma(start); vma && vma->start() < end; vma = m_vmas.next(*vma))
        vma->set_flags(set ? vma->flags() | flag : vma->flags() & ~flag);
    merge_range_locked(start, end);
    return {};
}

void AddressSpace::set_pages_locked_locked(VirtAddr start, VirtAddr end, bool locked)
{
    ScopedLock ptl(m_page_table_lock);
    FrameArena& arena = m_machine.arena();
    Lruvec& lruvec = m_machine.lruvec();
    m_page_table.for_each_slot(start, end, [&](VirtAddr, PageTable::Entry& slot) {
        Pte pte(slot.load(std::memory_order_acquire));
        if (!pte.present() || arena.is_zero_pfn(pte.pfn()))
            return;
        PageFrame& page = arena.frame(pte.pfn());
        if (locked && lruvec.mlock_page(page)) {
            m_machine.stat().inc(VmStatItem::NrMlock);
            m_machine.stat().inc(VmStatItem::UnevictablePgsMlocked);
        } else if (!locked && lruvec.munlock_page(page)) {
            m_machine.stat().dec(VmStatItem::NrMlock);
            m_machine.stat().inc(VmStatItem::UnevictablePgsMunlocked);
        }
    });
}

bool AddressSpace::mlock_future_ok_locked(std::size_t pages) const
{
    if (os::can_lock_without_limit())
        return true;
    std::size_t locked = pages;
    for (const Vma& vma : m_vmas)
        if (vma.flags() & VmFlags::Locked)
            locked += vma.pages();
    return locked <= os::memlock_limit() / kPageSize;
}

VmResult<void> AddressSpace::mlock(VirtAddr address, std::size_t length)
{
    bool unlimited = os::can_lock_without_limit();
    std::size_t limit = os::memlock_limit();
    if (limit == 0 && !unlimited)
        return vm_fail(EPERM, "mlock: RLIMIT_MEMLOCK is 0 and the process lacks CAP_IPC_LOCK");
    auto range = whole_pages(address, length);
    if (!range)
        return vm_fail(EINVAL, "mlock: range overflows");
    if (range->start == range->end)
        return {};
    if (!in_reservation_range(range->start, range->end - range->start))
        return vm_fail(ENOMEM, "mlock: range is not mapped");
    os::ScopedAsyncSignalBlock signals;
    bool hole = false;
    {
        ScopedLock guard(m_mmap_lock);
        // As Linux's apply_vma_lock_flags(): the VMAs before a hole are locked, then ENOMEM,
        // with nothing faulted in.
        VirtAddr mapped_end = mapped_prefix_end_locked(range->start, range->end);
        if (mapped_end == range->start)
            return vm_fail(ENOMEM, "mlock: range is not mapped");
        hole = mapped_end < range->end;
        range->end = mapped_end;
        // locked_vm: what is locked already, outside this range, plus the range.
        std::size_t locked = pages_between(range->start, range->end);
        for (const Vma& vma : m_vmas) {
            if (!(vma.flags() & VmFlags::Locked))
                continue;
            VirtAddr low = std::max(vma.start(), range->start);
            VirtAddr high = std::min(vma.end(), range->end);
            locked += vma.pages() - (low < high ? pages_between(low, high) : 0);
        }
        if (!unlimited && locked > limit / kPageSize)
            return vm_fail(ENOMEM, "mlock: RLIMIT_MEMLOCK would be exceeded");
        VM_TRY(apply_vm_flag_locked(range->start, range->end, VmFlags::Locked, true));
        set_pages_locked_locked(range->start, range->end, true);
    }
    if (hole)
        return vm_fail(ENOMEM, "mlock: range is not mapped");
    // __mm_populate(): every page in, so that a locked range never waits for swap. A PROT_NONE
    // VMA stops it (the range stays locked), and mlock(2) says ENOMEM, as Linux's does.
    // __mlock_posix_error_return(): a fault that found no memory is EAGAIN.
    FaultResult failure;
    if (populate(range->start, range->end, std::nullopt, &failure) != range->end) {
        if (failure == FaultResult::OutOfMemory)
            return vm_fail(EAGAIN, "mlock: the frames cannot hold the range");
        return vm_fail(ENOMEM, "mlock: part of the range could not be faulted in");
    }
    return {};
}

VmResult<void> AddressSpace::munlock(VirtAddr address, std::size_t length)
{
    auto range = whole_pages(address, length);
    if (!range)
        return vm_fail(EINVAL, "munlock: range overflows");
    if (range->start == range->end)
        return {};
    if (!in_reservation_range(range->start, range->end - range->start))
        return vm_fail(ENOMEM, "munlock: range is not mapped");
    os::ScopedAsyncSignalBlock signals;
    ScopedLock guard(m_mmap_lock);
    VirtAddr mapped_end = mapped_prefix_end_locked(range->start, range->end);
    if (mapped_end == range->start)
        return vm_fail(ENOMEM, "munlock: range is not mapped");
    VM_TRY(apply_vm_flag_locked(range->start, mapped_end, VmFlags::Locked, false));
    set_pages_locked_locked(range->start, mapped_end, false);
    if (mapped_end < range->end)
        return vm_fail(ENOMEM, "munlock: range is not mapped");
    return {};
}

} // namespace vmemu
