#include <sys/stat.h>
#include <vmemu/base/assert.hpp>
#include <vmemu/fs/inode.hpp>
#include <vmemu/fs/inode_cache.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

InodeCache::InodeCache(Machine& machine)
    : m_machine(machine)
{
}

InodeCache::~InodeCache()
{
    ScopedLock guard(m_lock);
    for (auto& inode : m_all)
        VM_ASSERT(inode->refcount().load() == 0);
}

VmResult<Inode*> InodeCache::get(int fd, const struct stat& st, bool writable)
{
    ScopedLock guard(m_lock);
    Inode* unused = nullptr;
    for (auto& inode : m_all) {
        if (inode->refcount().load(std::memory_order_acquire) == 0) {
            unused = unused ? unused : inode.get();
            continue;
        }
        if (!inode->matches(st.st_dev, st.st_ino))
            continue;
        if (writable && !inode->writable())
            VM_TRY(inode->open(fd, st.st_dev, st.st_ino, inode->size(), true));
        inode->refcount().fetch_add(1, std::memory_order_acq_rel);
        return inode.get();
    }
    if (!unused) {
        auto tree = VM_TRY(PageTable::create(m_machine.page_allocator(), m_machine.stat(), VmStatItem::NrSlabReclaimable));
        try {
            m_all.push_back(std::make_unique<Inode>(m_machine, std::move(tree)));
        } catch (const std::bad_alloc&) {
            return vm_fail(ENOMEM, "mmap: no memory for an inode");
        }
        unused = m_all.back().get();
    }
    // cppcheck-suppress nullPointerRedundantCheck ; VM_TRY above returns when no inode was made
    VM_TRY(unused->open(fd, st.st_dev, st.st_ino, static_cast<std::uint64_t>(st.st_size), writable));
    unused->refcount().store(1, std::memory_order_release);
    m_in_use.fetch_add(1, std::memory_order_release);
    return unused;
}

Inode* InodeCache::find(dev_t dev, ino_t ino)
{
    ScopedLock guard(m_lock);
    for (auto& inode : m_all) {
        if (inode->refcount().load(std::memory_order_acquire) != 0 && inode->matches(dev, ino)) {
            inode->refcount().fetch_add(1, std::memory_order_acq_rel);
            return inode.get();
        }
    }
    return nullptr;
}

Inode* InodeCache::find(int fd)
{
    if (m_in_use.load(std::memory_order_acquire) == 0)
        return nullptr;
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return nullptr;
    return find(st.st_dev, st.st_ino);
}

void InodeCache::grab(Inode& inode) { VM_ASSERT(inode.refcount().fetch_add(1, std::memory_order_acq_rel) > 0); }

void InodeCache::put(Inode& inode)
{
    std::uint32_t count = inode.refcount().load(std::memory_order_acquire);
    // Not the last: no lock needed. The last goes under the lock, so that get() cannot hand
    // the Inode out while it is released.
    while (count > 1) {
        if (inode.refcount().compare_exchange_weak(count, count - 1, std::memory_order_acq_rel))
            return;
    }
    ScopedLock guard(m_lock);
    if (inode.refcount().fetch_sub(1, std::memory_order_acq_rel) != 1)
        return;
    // Released with the lock held: a new mapping of the same file waits, then reads the file
    // as the written-back pages left it.
    inode.release();
    m_in_use.fetch_sub(1, std::memory_order_release);
}

std::size_t InodeCache::collect(Inode** out, std::size_t max, std::size_t* next, bool dirty_only)
{
    ScopedLock guard(m_lock);
    std::size_t count = 0;
    std::size_t slot = *next;
    for (; slot < m_all.size() && count < max; ++slot) {
        Inode& inode = *m_all[slot];
        if (inode.refcount().load(std::memory_order_acquire) != 0
            && (!dirty_only || inode.nr_dirty().load(std::memory_order_relaxed) > 0)) {
            inode.refcount().fetch_add(1, std::memory_order_acq_rel);
            out[count++] = &inode;
        }
    }
    *next = slot;
    return count;
}

std::size_t InodeCache::in_use() const { return m_in_use.load(std::memory_order_acquire); }

} // namespace vmemu
