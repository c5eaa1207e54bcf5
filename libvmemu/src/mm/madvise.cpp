// madvise(2) on an AddressSpace (mm/madvise.c).
#include <sys/mman.h>
#include <vmemu/address_space.hpp>
#include <vmemu/reclaim/vmscan.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/fs/file_io.hpp>
#include <vmemu/fs/filemap.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

namespace {
// Advice that concerns what vmemu does not have (transparent huge pages, KSM, core dumps,
// fork: emulated memory is never inherited) is accepted and changes nothing.
bool advice_is_a_no_op(int advice)
{
    switch (advice) {
    case MADV_HUGEPAGE:
    case MADV_NOHUGEPAGE:
    case MADV_MERGEABLE:
    case MADV_UNMERGEABLE:
    case MADV_DONTDUMP:
    case MADV_DODUMP:
    case MADV_DONTFORK:
    case MADV_DOFORK:
    case MADV_WIPEONFORK:
    case MADV_KEEPONFORK:
        return true;
    default:
        return false;
    }
}

bool advice_is_known(int advice)
{
    switch (advice) {
    case MADV_NORMAL:
    case MADV_RANDOM:
    case MADV_SEQUENTIAL:
    case MADV_WILLNEED:
    case MADV_DONTNEED:
    case MADV_FREE:
    case MADV_COLD:
    case MADV_PAGEOUT:
        return true;
    default:
        return advice_is_a_no_op(advice);
    }
}

std::uint32_t read_hint_flags(int advice)
{
    if (advice == MADV_RANDOM)
        return VmFlags::RandRead;
    if (advice == MADV_SEQUENTIAL)
        return VmFlags::SeqRead;
    return 0;
}
} // namespace

void AddressSpace::swapin_range_locked(VirtAddr start, VirtAddr end)
{
    // madvise_willneed() of a file: its pages are read into the page cache, without waiting
    // (vfs_fadvise(POSIX_FADV_WILLNEED)), in windows of at most one request.
    for (Vma* vma = m_vmas.find_vma(start); vma && vma->start() < end; vma = m_vmas.next(*vma)) {
        if (!vma->file())
            continue;
        std::uint64_t first = vma->linear_index(std::max(start, vma->start()));
        std::uint64_t last = vma->linear_index(std::min(end, vma->end()).page_offset(-1));
        for (std::uint64_t index = first; index <= last; index += FileIo::kMaxPages)
            page_cache_ra_submit(m_machine, *vma->file(), index, std::min<std::uint64_t>(FileIo::kMaxPages, last - index + 1),
                ~std::uint64_t { 0 }, ~std::uint64_t { 0 });
    }
    SwapState* swap = m_machine.swap();
    if (!swap)
        return; // anonymous memory without swap has nothing to read ahead
    // swapin_walk_pmd_entry(): every swap PTE's page is read into the swap cache, without waiting.
    SwapEntry entries[64];
    std::size_t count = 0;
    auto flush = [&] {
        swap->swapin_async(entries, count);
        count = 0;
    };
    m_page_table.for_each_slot(start, end, [&](VirtAddr, PageTable::Entry& slot) {
        Pte pte(slot.load(std::memory_order_acquire));
        if (!pte.is_swap())
            return;
        entries[count++] = pte.swap_entry();
        if (count == 64)
            flush();
    });
    flush();
}

void AddressSpace::deactivate_range_locked(VirtAddr start, VirtAddr end)
{
    // madvise_cold(): the pages lose their accessed bits and go to the inactive list.
    ScopedLock ptl(m_page_table_lock);
    FrameArena& arena = m_machine.arena();
    // The page_table_lock is held around the walk; the analysis cannot see into the lambda.
    m_page_table.for_each_slot(start, end, [&](VirtAddr address, PageTable::Entry& slot) VM_NO_THREAD_SAFETY_ANALYSIS {
        Pte pte(slot.load(std::memory_order_acquire));
        if (!pte.present() || arena.is_zero_pfn(pte.pfn()))
            return;
        // A pinned page is in use by a system call: it keeps its place in the kernel's view,
        // and its accessed bit (pins are taken under this lock).
        bool pinned = arena.frame(pte.pfn()).pincount.load(std::memory_order_acquire) != 0;
        if (pte.accessed() && !pinned) {
            if (pte.hw_mapped() && !unmap_hardware_range_locked(address, address.offset(kPageSize)))
                return;
            slot.fetch_and(~Pte::kAccessed, std::memory_order_acq_rel);
        }
        if (m_machine.lruvec().deactivate(arena.frame(pte.pfn())))
            m_machine.stat().inc(VmStatItem::PgDeactivate);
    });
}

void AddressSpace::pageout_range_locked(VirtAddr start, VirtAddr end)
{
    if (!m_machine.swap())
        return; // nowhere to put anonymous pages
    // madvise_pageout(): the pages are isolated under the page table lock, so that they stay
    // ours, and then reclaimed whether referenced or not.
    PageFrame* pages[Vmscan::kSwapClusterMax];
    VirtAddr cursor = start;
    while (cursor < end) {
        std::size_t count = 0;
        {
            ScopedLock ptl(m_page_table_lock);
            FrameArena& arena = m_machine.arena();
            for (; cursor < end && count < Vmscan::kSwapClusterMax; cursor = cursor.offset(kPageSize)) {
                Pte pte = m_page_table.lookup(cursor);
                if (!pte.present() || arena.is_zero_pfn(pte.pfn()))
                    continue;
                PageFrame& page = arena.frame(pte.pfn());
                if (m_machine.lruvec().isolate_page(page))
                    pages[count++] = &page;
            }
        }
        m_machine.vmscan().reclaim_pages(pages, count);
    }
}

VmResult<void> AddressSpace::madvise(VirtAddr address, std::size_t length, int advice)
{
    if (!advice_is_known(advice))
        return vm_fail(EINVAL, "madvise: unknown advice");
    if (!address.is_page_aligned())
        return vm_fail(EINVAL, "madvise: address is not page-aligned");
    std::uintptr_t size = page_round_up(length);
    if ((length != 0 && size == 0) || address.get() + size < address.get())
        return vm_fail(EINVAL, "madvise: range overflows");
    if (length == 0)
        return {};
    if (!in_reservation_range(address, size))
        return vm_fail(ENOMEM, "madvise: range is not mapped");
    VirtAddr start = address;
    VirtAddr end = address.offset(size);

    os::ScopedAsyncSignalBlock signals;
    ScopedLock guard(m_mmap_lock);
    // As Linux: the advice applies to the mapped parts, and a hole makes the call fail with
    // ENOMEM afterwards.
    bool hole = !range_fully_mapped_locked(start, end);
    if (!m_vmas.find_vma_intersection(start, end))
        return vm_fail(ENOMEM, "madvise: range is not mapped");
    // MADV_DONTNEED, MADV_FREE, MADV_COLD and MADV_PAGEOUT refuse locked memory. As Linux
    // walks the VMAs in order, those before the first locked one take the advice, and then the
    // call fails with EINVAL.
    // MADV_FREE refuses a file mapping the same way (madvise_free_single_vma()).
    bool locked = false;
    bool not_anonymous = false;
    if (advice == MADV_DONTNEED || advice == MADV_FREE || advice == MADV_COLD || advice == MADV_PAGEOUT) {
        for (Vma* vma = m_vmas.find_vma(start); vma && vma->start() < end; vma = m_vmas.next(*vma)) {
            if (vma->flags() & VmFlags::Locked) {
                locked = true;
                end = std::max(start, vma->start());
                break;
            }
            if (advice == MADV_FREE && vma->file()) {
                not_anonymous = true;
                end = std::max(start, vma->start());
                break;
            }
        }
    }
    switch (advice) {
    case MADV_WILLNEED:
        swapin_range_locked(start, end);
        break;
    case MADV_COLD:
        deactivate_range_locked(start, end);
        break;
    case MADV_PAGEOUT:
        pageout_range_locked(start, end);
        break;
    case MADV_FREE: // the pages may be freed at once: as MADV_DONTNEED, which Linux may also do
    case MADV_DONTNEED:
        for (Vma* vma = m_vmas.find_vma(start); vma && vma->start() < end; vma = m_vmas.next(*vma))
            VM_TRY(zap_page_range_locked(std::max(start, vma->start()), std::min(end, vma->end())));
        break;
    default: {
        if (advice_is_a_no_op(advice))
            break;
        VM_TRY(split_at_locked(start, end));
        std::uint32_t hint = read_hint_flags(advice);
        for (Vma* vma = m_vmas.find_vma(start); vma && vma->start() < end; vma = m_vmas.next(*vma))
            vma->set_flags((vma->flags() & ~(VmFlags::SeqRead | VmFlags::RandRead)) | hint);
        merge_range_locked(start, end);
        break;
    }
    }
    if (locked)
        return vm_fail(EINVAL, "madvise: the range is locked (mlock)");
    if (not_anonymous)
        return vm_fail(EINVAL, "madvise: MADV_FREE applies to anonymous memory only");
    if (hole)
        return vm_fail(ENOMEM, "madvise: range is not fully mapped");
    return {};
}

} // namespace vmemu
