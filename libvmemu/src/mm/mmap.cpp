// mmap(2) and munmap(2) on an AddressSpace (mm/mmap.c): argument checks with Linux's errno
// values, the top-down unmapped-area search, VMA split/merge and teardown.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <vmemu/address_space.hpp>
#include <vmemu/os/memory.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/fs/inode.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/mm/mm_flags.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

VmResult<VirtAddr> AddressSpace::mmap(VirtAddr hint, std::size_t length, int prot, int flags, int fd, off_t offset)
{
    // The checks in the order Linux makes them: the syscall entry, ksys_mmap_pgoff(), do_mmap().
    if (offset & ~static_cast<off_t>(kPageMask))
        return vm_fail(EINVAL, "mmap: offset is not page-aligned");
    bool anonymous = flags & MAP_ANONYMOUS;
    int fd_flags = 0;
    if (!anonymous && (fd < 0 || (fd_flags = ::fcntl(fd, F_GETFL)) < 0))
        return vm_fail(EBADF, "mmap: no MAP_ANONYMOUS and no open file descriptor");
    if (length == 0)
        return vm_fail(EINVAL, "mmap: length is zero");
    std::uintptr_t size = page_round_up(length);
    if (size == 0)
        return vm_fail(ENOMEM, "mmap: length overflows");
    int type = flags & MAP_TYPE;
    if (type != MAP_SHARED && type != MAP_PRIVATE && type != MAP_SHARED_VALIDATE)
        return vm_fail(EINVAL, "mmap: neither MAP_SHARED nor MAP_PRIVATE");
    if (flags & kUnsupportedMapFlags)
        return vm_fail(EOPNOTSUPP, "mmap: MAP_GROWSDOWN, MAP_HUGETLB and MAP_32BIT are not supported");
    if (flags & ~(kKnownMapFlags | MAP_TYPE))
        return vm_fail(type == MAP_SHARED_VALIDATE ? EOPNOTSUPP : EINVAL, "mmap: unknown flags");
    if (prot & ~kKnownProt)
        return vm_fail(EINVAL, "mmap: unknown protection bits");
    if (anonymous && type != MAP_PRIVATE)
        return vm_fail(EOPNOTSUPP, "mmap: shared anonymous mappings are not supported");
    Inode* file = nullptr;
    if (!anonymous) {
        // do_mmap()'s checks of the file, then the Inode with its reference (iget()).
        struct stat st;
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
            return vm_fail(ENODEV, "mmap: only regular files can be mapped");
        int access = fd_flags & O_ACCMODE;
        if (access == O_WRONLY)
            return vm_fail(EACCES, "mmap: the file is open for writing only");
        bool shared = type != MAP_PRIVATE;
        if (shared && (prot & PROT_WRITE) && access != O_RDWR)
            return vm_fail(EACCES, "mmap: MAP_SHARED with PROT_WRITE on a file not open for writing");
        if (offset < 0 || static_cast<std::uint64_t>(offset >> kPageShift) + (size >> kPageShift) > PageCache::kMaxIndex + 1)
            return vm_fail(EOVERFLOW, "mmap: offset and length pass the largest file vmemu maps (256 TiB)");
        VM_TRY(m_machine.enable_files());
        file = VM_TRY(m_machine.inodes().get(fd, st, access == O_RDWR));
    }
    // The file's reference goes back on every failure from here.
    struct FileReference {
        Machine& machine;
        Inode* file;
        ~FileReference()
        {
            if (file)
                machine.inodes().put(*file);
        }
    } reference { m_machine, file };
    if (size > m_reservation_end - m_reservation_start)
        return vm_fail(ENOMEM, "mmap: length larger than the reservation");
    bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
    if (fixed && !hint.is_page_aligned())
        return vm_fail(EINVAL, "mmap: MAP_FIXED address is not page-aligned");

    if ((flags & MAP_LOCKED) && os::memlock_limit() == 0 && !os::can_lock_without_limit())
        return vm_fail(EPERM, "mmap: MAP_LOCKED, but RLIMIT_MEMLOCK is 0 and the process lacks CAP_IPC_LOCK");

    // Covers the populate below, which faults as the program would.
    os::ScopedAsyncSignalBlock signals;
    VirtAddr start;
    {
        ScopedLock guard(m_mmap_lock);
        // In do_mmap()'s order: the place (ENOMEM, EEXIST), then the lock limit (EAGAIN),
        // then, with MAP_FIXED, what was there goes.
        bool replaces = false;
        if (fixed) {
            if (!in_reservation_range(hint, size))
                return vm_fail(ENOMEM, "mmap: MAP_FIXED range outside the reservation");
            start = hint;
            replaces = m_vmas.find_vma_intersection(start, start.offset(size)) != nullptr;
            if (replaces && (flags & MAP_FIXED_NOREPLACE))
                return vm_fail(EEXIST, "mmap: MAP_FIXED_NOREPLACE range is in use");
        } else {
            start = VM_TRY(get_unmapped_area_locked(hint, size));
        }
        if ((flags & MAP_LOCKED) && !mlock_future_ok_locked(size / kPageSize))
            return vm_fail(EAGAIN, "mmap: MAP_LOCKED would exceed RLIMIT_MEMLOCK");
        if (replaces)
            VM_TRY(do_munmap_locked(start, start.offset(size)));
        std::uint32_t vm_flags = vm_flags_from_prot(prot) | VmFlags::MayRead | VmFlags::MayWrite | VmFlags::MayExec;
        if (flags & MAP_LOCKED)
            vm_flags |= VmFlags::Locked;
        if (file && type != MAP_PRIVATE) {
            // Shared file pages belong to the file, not to the commit: no VM_ACCOUNT.
            vm_flags |= VmFlags::Shared | VmFlags::MayShare;
            if ((fd_flags & O_ACCMODE) != O_RDWR)
                vm_flags &= ~VmFlags::MayWrite;
        } else if (flags & MAP_NORESERVE) {
            vm_flags |= VmFlags::NoReserve;
        } else if (!file || (prot & PROT_WRITE)) {
            vm_flags |= VmFlags::Account; // a private file mapping commits what it may copy
        }
        if (!charge(vm_flags, pages_between(start, start.offset(size))))
            return vm_fail(ENOMEM, "mmap: the commit limit (frames plus swap) would be exceeded");
        VirtAddr end = start.offset(size);
        std::uint64_t pgoff = file ? static_cast<std::uint64_t>(offset) >> kPageShift : start.vpn();
        auto vma = m_vmas.insert(start, end, vm_flags, pgoff,
            file ? nullptr : m_vmas.mergeable_anon_vma(start, end, vm_flags, pgoff), file);
        if (!vma) {
            uncharge(vm_flags, pages_between(start, start.offset(size)));
            return std::unexpected(vma.error());
        }
        if (file) {
            (*vma)->wb_err_since().store(file->sample_wb_err());
            reference.file = nullptr; // the VMA's now
        }
        m_vmas.try_merge_around(**vma);
        sync_kernel_protection_locked(start, start.offset(size));
    }
    if ((flags & (MAP_POPULATE | MAP_LOCKED)) && (prot & kAccessProt))
        (void)populate(start, start.offset(size), std::nullopt);
    return start;
}

VmResult<void> AddressSpace::munmap(VirtAddr address, std::size_t length)
{
    if (!address.is_page_aligned())
        return vm_fail(EINVAL, "munmap: address is not page-aligned");
    std::uintptr_t size = page_round_up(length);
    if (length == 0 || size == 0)
        return vm_fail(EINVAL, "munmap: length is zero or overflows");
    if (!in_reservation_range(address, size))
        return vm_fail(EINVAL, "munmap: range outside the reservation");
    os::ScopedAsyncSignalBlock signals;
    ScopedLock guard(m_mmap_lock);
    VmResult<void> result = do_munmap_locked(address, address.offset(size));
    sync_kernel_protection_locked(address, address.offset(size));
    return result;
}

VmResult<VirtAddr> AddressSpace::get_unmapped_area_locked(VirtAddr hint, std::size_t length) const
{
    std::uintptr_t capacity = m_reservation_end - m_reservation_start;
    if (length > capacity)
        return vm_fail(ENOMEM, "mmap: no room in the reservation");
    if (hint.get() != 0) {
        VirtAddr start = hint.page_base();
        if (in_reservation_range(start, length) && !m_vmas.find_vma_intersection(start, start.offset(length)))
            return start;
    }
    // Top-down, like Linux's default layout: the highest gap that fits.
    VirtAddr gap_end = m_reservation_end;
    for (auto it = m_vmas.end(); it != m_vmas.begin();) {
        --it;
        if (gap_end - it->end() >= length)
            return VirtAddr(gap_end.get() - length);
        gap_end = it->start();
    }
    if (gap_end - m_reservation_start >= length)
        return VirtAddr(gap_end.get() - length);
    return vm_fail(ENOMEM, "mmap: no room in the reservation");
}

VmResult<void> AddressSpace::split_at_locked(VirtAddr start, VirtAddr end)
{
    Vma* vma = m_vmas.find_vma(start);
    if (vma && vma->start() < start && vma->end() > start)
        VM_TRY(m_vmas.split(*vma, start));
    vma = m_vmas.find_vma(end);
    if (vma && vma->start() < end && vma->end() > end)
        VM_TRY(m_vmas.split(*vma, end));
    return {};
}

bool AddressSpace::range_fully_mapped_locked(VirtAddr start, VirtAddr end) const
{
    return mapped_prefix_end_locked(start, end) == end;
}

VirtAddr AddressSpace::mapped_prefix_end_locked(VirtAddr start, VirtAddr end) const
{
    VirtAddr cursor = start;
    while (cursor < end) {
        Vma* vma = m_vmas.find_vma(cursor);
        if (!vma || vma->start() > cursor)
            return cursor;
        cursor = vma->end();
    }
    return end;
}

void AddressSpace::merge_range_locked(VirtAddr start, VirtAddr end)
{
    Vma* vma = m_vmas.find_vma(start);
    if (!vma)
        return;
    if (Vma* before = m_vmas.prev(*vma))
        vma = before;
    while (vma && vma->start() <= end) {
        Vma* following = m_vmas.next(*vma);
        if (following && vma->can_merge_with(*following)) {
            m_vmas.try_merge_next(*vma);
            continue;
        }
        vma = following;
    }
}

VmResult<void> AddressSpace::do_munmap_locked(VirtAddr start, VirtAddr end)
{
    if (!m_vmas.find_vma_intersection(start, end))
        return {};
    VM_TRY(split_at_locked(start, end));
    VM_TRY(zap_page_range_locked(start, end));
    Vma* vma = m_vmas.find_vma(start);
    while (vma && vma->start() < end) {
        Vma* following = m_vmas.next(*vma);
        // What was written through a shared mapping goes back to its file now (the last
        // mapping's release waits for it).
        if (vma->is_shared_file() && vma->file()->nr_dirty().load(std::memory_order_relaxed) > 0)
            m_machine.writeback().writeback_range(*vma->file(), vma->pgoff(), vma->pgoff() + vma->pages() - 1, false);
        uncharge(vma->flags(), vma->pages());
        m_vmas.erase(*vma);
        vma = following;
    }
    // free_pgtables(): the tables that now only cover the gap between the neighbours.
    Vma* above = m_vmas.find_vma(end);
    Vma* below = above ? m_vmas.prev(*above) : (m_vmas.size() ? &*std::prev(m_vmas.end()) : nullptr);
    // Nothing of this address space lies outside its reservation, so beyond the outermost
    // VMAs the gap extends over the whole user address range.
    VirtAddr gap_start = below ? below->end() : VirtAddr(std::uintptr_t { 0 });
    VirtAddr gap_end = above ? above->start() : VirtAddr(kUserAddressEnd);
    {
        ScopedLock ptl(m_page_table_lock);
        m_page_table.free_tables(gap_start, gap_end);
    }
    return {};
}

bool AddressSpace::charge(std::uint32_t vm_flags, std::size_t pages)
{
    return !(vm_flags & VmFlags::Account) || m_machine.commit(pages);
}

void AddressSpace::uncharge(std::uint32_t vm_flags, std::size_t pages)
{
    if (vm_flags & VmFlags::Account)
        m_machine.uncommit(pages);
}

VirtAddr AddressSpace::populate(VirtAddr start, VirtAddr end, std::optional<FaultAccess> access, FaultResult* failure)
{
    if (failure)
        *failure = FaultResult::Handled;
    // mm_populate(): fault the range in as the first touches would, fault-around included.
    for (VirtAddr page = start; page < end; page = page.offset(kPageSize)) {
        bool mapped;
        FaultAccess wanted;
        {
            // Page tables may be freed by a racing munmap unless the lock is held.
            SharedLock guard(m_mmap_lock);
            Vma* vma = m_vmas.find_vma(page);
            if (!vma || vma->start() > page || !(vma->flags() & (VmFlags::Read | VmFlags::Write | VmFlags::Exec)))
                return page;
            // A shared mapping is populated by reads: its pages are dirtied by writes only.
            bool write = (vma->flags() & (VmFlags::Write | VmFlags::Shared)) == VmFlags::Write;
            wanted = access.value_or(write ? FaultAccess::Write : FaultAccess::Read);
            Pte pte = m_page_table.lookup(page);
            mapped = pte.present() && pte.hw_mapped() && (wanted != FaultAccess::Write || pte.hw_writable());
        }
        if (mapped)
            continue;
        if (FaultResult result = handle_mm_fault(page, wanted); result != FaultResult::Handled) {
            if (failure)
                *failure = result;
            return page;
        }
    }
    return end;
}

} // namespace vmemu
