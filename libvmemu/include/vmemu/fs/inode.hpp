#pragma once
#include <array>
#include <atomic>
#include <boost/intrusive/list.hpp>
#include <cstdint>
#include <optional>
#include <sys/types.h>
#include <vmemu/base/thread_annotations.hpp>
#include <vmemu/fs/page_cache.hpp>
#include <vmemu/mm/vma.hpp>
#include <vmemu/sync/rw_semaphore.hpp>

namespace vmemu {

class Machine;

// A regular file that vmemu maps, Linux's struct inode with its struct address_space
// (i_mapping): the file's identity and size, its pages in memory (i_pages), the VMAs that map
// it in every address space (i_mmap), the readahead state, and the writeback error (wb_err).
// vmemu is the file's page cache while it is mapped: the file's bytes are read into frames
// once, shared by every mapping, and written back from them.
// - A file page has page.mapping == this Inode, page.index its index in the file, and no
//   PG_swapbacked; it holds the cache's reference while it is in the cache.
// - The VMAs hold references on the Inode. When the last goes, the dirty pages are written
//   back and the cache is emptied (truncate_inode_pages()), so that a later mapping reads
//   what the file holds then.
// Invariants: every page in the cache is on a file LRU list or isolated from one; the size is
// the file's as vmemu last saw it (its own truncations, and fstat when a fault looks past it).
// Locking: m_i_mmap_lock (i_mmap_rwsem) comes after the Machine's spaces lock and before the
// anon_vma locks; it is exclusive to link or unlink a VMA or change the range of a linked one. The page cache is lock-free. Pages are read and written under PG_locked and
// PG_writeback, as in Linux.
// Memory: type-stable (InodeCache), so that reclaim may look at the Inode a page names.
class Inode {
    using VmaList = boost::intrusive::list<Vma, boost::intrusive::member_hook<Vma, AnonVmaHook, &Vma::i_mmap_node>,
        boost::intrusive::constant_time_size<true>>;

public:
    Inode(Machine& machine, PageTable tree);
    ~Inode();
    Inode(const Inode&) = delete;
    Inode& operator=(const Inode&) = delete;

    // Takes on the file that fd names (a regular file, fstat'ed by the caller), with a file
    // descriptor of its own: the fd duplicated, and an O_DIRECT one where the file system
    // allows, so that reads and writes bypass the kernel's page cache as vmemu is the page
    // cache. writable: the fd was opened for writing.
    VmResult<void> open(int fd, dev_t dev, ino_t ino, std::uint64_t size, bool writable);
    // Writes back what is dirty, empties the cache and closes the descriptors (the last
    // mapping went). Pages the cache cannot give up yet (a read or write in flight, reclaim
    // holding one) are waited for.
    void release();

    bool matches(dev_t dev, ino_t ino) const { return m_fd >= 0 && m_dev == dev && m_ino == ino; }
    dev_t dev() const { return m_dev; }
    ino_t ino() const { return m_ino; }
    bool writable() const { return m_writable; }
    int fd() const { return m_fd; }

    // i_size: what vmemu last saw. refresh_size() asks the file (fstat, async-signal-safe) and
    // returns the new size; set_size() is vmemu's own truncation.
    std::uint64_t size() const { return m_size.load(std::memory_order_acquire); }
    std::uint64_t refresh_size();
    void set_size(std::uint64_t size) { m_size.store(size, std::memory_order_release); }
    // The pages the file has (the last one partial): index < size_pages() is inside it.
    std::uint64_t size_pages() const { return (size() + kPageSize - 1) >> kPageShift; }

    // truncate_inode_pages_range() from index first on: each page leaves the cache once only
    // the cache holds it (after a read, a write or reclaim's moment with it).
    struct TruncateResult {
        std::size_t mapped { 0 }; // pages left in place, still mapped (a fault raced the truncation)
        std::size_t dirty { 0 };  // pages that left dirty, unwritten
    };
    TruncateResult truncate_pages(std::uint64_t first);
    // __filemap_remove_folio(): page leaves the cache (its references frozen by the caller),
    // leaving shadow in its slot; its dirty state goes with it. The frame is the caller's.
    void delete_from_page_cache(PageFrame& page, std::optional<std::uint64_t> shadow);

    PageCache& cache() { return m_cache; }
    const PageCache& cache() const { return m_cache; }
    Machine& machine() const { return m_machine; }

    // References: one per VMA that maps the file, and one per user of the cache outside a
    // mapping (the flusher, truncation). Taken and dropped through the InodeCache.
    std::atomic<std::uint32_t>& refcount() { return m_refcount; }

    // i_mmap
    RwSemaphore& i_mmap_lock() VM_RETURN_CAPABILITY(m_i_mmap_lock) { return m_i_mmap_lock; }
    // Under the exclusive i_mmap lock (which a conditional guard takes: no annotation).
    void link(Vma& vma) VM_NO_THREAD_SAFETY_ANALYSIS { m_vmas.push_back(vma); }
    void unlink(Vma& vma) VM_NO_THREAD_SAFETY_ANALYSIS { m_vmas.erase(m_vmas.iterator_to(vma)); }
    // Holds the exclusive i_mmap lock of a VMA's file, if it maps one, while the VMA changes.
    class WriteGuard {
    public:
        explicit WriteGuard(Inode* file) VM_NO_THREAD_SAFETY_ANALYSIS : m_file(file)
        {
            if (m_file)
                m_file->m_i_mmap_lock.lock();
        }
        ~WriteGuard() VM_NO_THREAD_SAFETY_ANALYSIS
        {
            if (m_file)
                m_file->m_i_mmap_lock.unlock();
        }
        WriteGuard(const WriteGuard&) = delete;
        WriteGuard& operator=(const WriteGuard&) = delete;

    private:
        Inode* m_file;
    };
    // rmap_walk_file() for the pages [first, last]: visit(vma, first_vpn, last_vpn) for every
    // VMA that maps some of them.
    template<typename Visit>
    void for_each_vma(std::uint64_t first, std::uint64_t last, Visit&& visit) const VM_REQUIRES_SHARED(m_i_mmap_lock);
    // The (space, vpn) pairs at which page index may be mapped.
    template<typename Visit>
    void for_each_mapping(std::uint64_t index, Visit&& visit) const VM_REQUIRES_SHARED(m_i_mmap_lock)
    {
        for_each_vma(index, index, [&](const Vma& vma, std::uint64_t vpn, std::uint64_t) { visit(vma.mm(), vpn); });
    }

    // The file's readahead state (file_ra_state): the last window [start, start + size), of
    // which the last async_size pages were read ahead of need (the first of them has
    // PG_readahead). Hints, written by concurrent faults with relaxed atomics.
    struct Readahead {
        std::uint64_t start;
        std::uint32_t size;
        std::uint32_t async_size;
    };
    Readahead readahead() const;
    void set_readahead(const Readahead& state);
    // mmap_miss: read faults that missed the cache, less the hits on pages read around them.
    std::atomic<std::int32_t>& mmap_miss() { return m_mmap_miss; }

    // The writeback error, as an errseq_t: a counter of errors and the last errno.
    // sample_wb_err() is what a new mapping remembers; check_and_advance_wb_err() returns an
    // error recorded since that sample (once per sampler) and advances it.
    void set_wb_err(int error);
    std::uint32_t sample_wb_err() const;
    int check_and_advance_wb_err(std::atomic<std::uint32_t>& since);

    // Pages of this file with PG_dirty, for the flusher.
    std::atomic<std::int64_t>& nr_dirty() { return m_nr_dirty; }
    // Pages with a write in flight (PG_writeback).
    std::atomic<std::int64_t>& nr_writeback() { return m_nr_writeback; }
    // Dirty pages, or writes in flight: what a write-and-wait must see to.
    bool has_unwritten_pages() const
    {
        return m_nr_dirty.load(std::memory_order_acquire) > 0 || m_nr_writeback.load(std::memory_order_acquire) > 0;
    }

private:
    Machine& m_machine;
    PageCache m_cache;
    dev_t m_dev { 0 };
    ino_t m_ino { 0 };
    int m_fd { -1 };
    int m_direct_fd { -1 };
    bool m_writable { false };
    std::array<int, 8> m_retired {};
    std::size_t m_retired_count { 0 };
    std::atomic<std::uint64_t> m_size { 0 };
    std::atomic<std::uint32_t> m_refcount { 0 };
    mutable RwSemaphore m_i_mmap_lock;
    VmaList m_vmas; // under m_i_mmap_lock
    std::atomic<std::uint64_t> m_ra_start { 0 };
    std::atomic<std::uint64_t> m_ra_sizes { 0 };
    std::atomic<std::int32_t> m_mmap_miss { 0 };
    std::atomic<std::uint32_t> m_wb_err { 0 };
    std::atomic<std::int64_t> m_nr_dirty { 0 };
    std::atomic<std::int64_t> m_nr_writeback { 0 };

    friend class FileIo;
    int io_fd(bool aligned) const { return aligned && m_direct_fd >= 0 ? m_direct_fd : m_fd; }
};

template<typename Visit>
void Inode::for_each_vma(std::uint64_t first, std::uint64_t last, Visit&& visit) const
{
    for (const Vma& vma : m_vmas) {
        std::uint64_t vma_first = vma.pgoff();
        std::uint64_t vma_last = vma.pgoff() + vma.pages() - 1;
        if (last < vma_first || first > vma_last)
            continue;
        std::uint64_t from = std::max(first, vma_first);
        std::uint64_t to = std::min(last, vma_last);
        visit(vma, vma.start().vpn() + (from - vma_first), vma.start().vpn() + (to - vma_first));
    }
}

} // namespace vmemu
