// madvise(2) on an AddressSpace (mm/madvise.c).
#include <sys/mman.h>
#include <vmemu/address_space.hpp>
#include <vmemu/os/signals.hpp>
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
    switch (advice) {
    case MADV_WILLNEED:
        break; // anonymous memory without swap has nothing to read ahead
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
    if (hole)
        return vm_fail(ENOMEM, "madvise: range is not fully mapped");
    return {};
}

} // namespace vmemu
