// msync(2) on an AddressSpace (mm/msync.c).
#include <sys/mman.h>
#include <unistd.h>
#include <vmemu/address_space.hpp>
#include <vmemu/fs/inode.hpp>
#include <vmemu/fs/writeback.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/sync/scoped_lock.hpp>
#include <vmemu/os/syscall.hpp>

namespace vmemu {

VmResult<void> AddressSpace::msync(VirtAddr address, std::size_t length, int flags)
{
    // In the order of the msync syscall.
    if (flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC))
        return vm_fail(EINVAL, "msync: unknown flags");
    if (!address.is_page_aligned())
        return vm_fail(EINVAL, "msync: address is not page-aligned");
    if ((flags & MS_ASYNC) && (flags & MS_SYNC))
        return vm_fail(EINVAL, "msync: MS_ASYNC together with MS_SYNC");
    std::uintptr_t size = page_round_up(length);
    if (length && (size == 0 || address.get() + size < address.get()))
        return vm_fail(ENOMEM, "msync: range overflows");
    if (size == 0)
        return {};
    VirtAddr start = address;
    VirtAddr end = address.offset(size);
    os::ScopedAsyncSignalBlock signals;
    SharedLock guard(m_mmap_lock);
    return msync_range_locked(start, end, flags);
}

VmResult<void> AddressSpace::msync_range_locked(VirtAddr start, VirtAddr end, int flags)
{
    bool hole = !in_reservation_range(start, end - start);
    VmResult<void> result;
    VirtAddr cursor = start;
    for (Vma* vma = m_vmas.find_vma(start); vma && vma->start() < end; vma = m_vmas.next(*vma)) {
        if (vma->start() > cursor)
            hole = true;
        if ((flags & MS_INVALIDATE) && (vma->flags() & VmFlags::Locked))
            return vm_fail(EBUSY, "msync: MS_INVALIDATE on locked memory");
        VirtAddr from = std::max(cursor, vma->start());
        VirtAddr to = std::min(end, vma->end());
        cursor = vma->end();
        if (!vma->is_shared_file() || !(flags & MS_SYNC)) {
            // MS_ASYNC only starts the writeback, as Linux's flusher would.
            if (vma->is_shared_file() && (flags & MS_ASYNC))
                m_machine.writeback().writeback_range(*vma->file(), vma->linear_index(from),
                    vma->linear_index(to.page_offset(-1)), false);
            continue;
        }
        // vfs_fsync_range(): the pages, then the file itself, then the error since this
        // mapping last looked.
        Inode& inode = *vma->file();
        m_machine.writeback().writeback_range(inode, vma->linear_index(from), vma->linear_index(to.page_offset(-1)), true);
        if (os::sys_fdatasync(inode.fd()) != 0 && result)
            result = vm_fail(errno, "msync: fdatasync failed");
        if (int error = inode.check_and_advance_wb_err(vma->wb_err_since()); error && result)
            result = vm_fail(error, "msync: writeback of the file failed");
    }
    if (!result)
        return result;
    if (hole || cursor < end)
        return vm_fail(ENOMEM, "msync: range is not fully mapped");
    return {};
}

} // namespace vmemu
