// Files on a Machine: starting their I/O, and truncation (mm/truncate.c).
#include <cstring>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vmemu/address_space.hpp>
#include <vmemu/base/log.hpp>
#include <vmemu/fs/inode.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/reclaim/lruvec.hpp>
#include <vmemu/reclaim/swap_state.hpp>
#include <vmemu/sync/scoped_lock.hpp>
#include <vmemu/os/syscall.hpp>

namespace vmemu {

VmResult<void> Machine::enable_files()
{
    ScopedLock guard(m_files_lock);
    if (m_file_io)
        return {};
    m_file_io = VM_TRY(FileIo::create(*this));
    m_file_io_published.store(m_file_io.get(), std::memory_order_release);
    m_writeback.start_flusher();
    return {};
}

Inode::TruncateResult Inode::truncate_pages(std::uint64_t first)
{
    TruncateResult result;
    m_cache.for_each_page(first, PageCache::kMaxIndex, [&](std::uint64_t index, PageFrame& page) {
        // A reference first, so that the frame cannot go elsewhere while it is waited for.
        if (!Lruvec::get_unless_zero(page))
            return; // being freed: reclaim took it
        if (!m_cache.holds(page, index)) {
            m_machine.put_page(page);
            return;
        }
        // Then only the cache and this reference may hold it: reclaim holds it for a moment,
        // or its I/O is ending.
        for (;;) {
            if (page.mapcount.load(std::memory_order_acquire) != 0) {
                ++result.mapped;
                m_machine.put_page(page);
                return;
            }
            if (!page.test(PageFlag::Locked) && !page.test(PageFlag::Writeback) && SwapState::freeze_refs(page, 2))
                break;
            sched_yield();
        }
        result.dirty += page.test(PageFlag::Dirty);
        delete_from_page_cache(page, std::nullopt);
        m_machine.release_page(page);
    });
    m_cache.clear_shadows(first, PageCache::kMaxIndex);
    return result;
}

void Machine::zero_cached_segment(Inode& inode, std::uint64_t index, std::size_t from, std::size_t to)
{
    if (PageFrame* page = inode.cache().find_get(index)) {
        m_arena->zero_segment(*page, from, to);
        put_page(*page);
    }
}

VmResult<void> Machine::truncate(int fd, off_t length)
{
    if (length < 0)
        return vm_fail(EINVAL, "truncate: negative length");
    os::ScopedAsyncSignalBlock signals;
    SharedLock work(m_file_work_lock);
    Inode* inode = m_inodes.find(fd);
    if (os::sys_ftruncate(fd, length) != 0) {
        int error = errno;
        if (inode)
            m_inodes.put(*inode);
        return vm_fail(error, "truncate: ftruncate failed");
    }
    if (!inode)
        return {};
    auto size = static_cast<std::uint64_t>(length);
    std::uint64_t old_size = inode->size();
    if (size > old_size && old_size % kPageSize) {
        // pagecache_isize_extended(): what a mapping wrote past the old end of the last page
        // becomes part of the file now, as zeros (before the new size lets writeback write
        // it).
        std::size_t to = std::min<std::uint64_t>(kPageSize, size - (old_size & ~std::uint64_t { kPageSize - 1 }));
        zero_cached_segment(*inode, old_size >> kPageShift, old_size % kPageSize, to);
    }
    inode->set_size(size);
    if (size < old_size) {
        // The pages wholly past the new end leave every mapping, private copies included, then
        // the cache; faults that raced the new size are unmapped again.
        std::uint64_t first = (size + kPageSize - 1) >> kPageShift;
        auto unmap = [&] {
            SharedLock spaces(m_spaces_lock);
            SharedLock mappings(inode->i_mmap_lock());
            inode->for_each_vma(first, PageCache::kMaxIndex, [](const Vma& vma, std::uint64_t from, std::uint64_t to) {
                if (vma.mm())
                    vma.mm()->unmap_mapping_range(from, to);
            });
        };
        for (int round = 0; round < 8; ++round) {
            unmap();
            if (inode->truncate_pages(first).mapped == 0)
                break;
        }
        // truncate_pagecache() unmaps once more: a private copy made by a fault that passed the
        // old size goes too.
        unmap();
        // A write of a page past the end that was in flight may have grown the file again.
        if (os::sys_ftruncate(fd, length) != 0)
            log().warn("truncate: ftruncate after writeback failed: {}", std::strerror(errno));
        // The rest of a partial last page reads as zeros, and is written so.
        if (size % kPageSize)
            zero_cached_segment(*inode, size >> kPageShift, size % kPageSize, kPageSize);
    }
    m_inodes.put(*inode);
    return {};
}

} // namespace vmemu
