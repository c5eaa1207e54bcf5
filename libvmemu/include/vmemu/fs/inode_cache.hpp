#pragma once
#include <atomic>
#include <memory>
#include <sys/stat.h>
#include <vector>
#include <vmemu/base/thread_annotations.hpp>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/sync/mutex.hpp>

namespace vmemu {

class Inode;
class Machine;

// The inodes of a Machine's mapped files (Linux's inode cache): one Inode per file (device and
// inode number), however many mappings and descriptors name it, in every address space.
// Memory: type-stable. An Inode whose last reference goes is released (written back, emptied,
// closed) and kept for reuse, never freed while the Machine lives.
// Locking: m_lock, a leaf, taken outside the fault path only (mmap, munmap, the flusher).
class InodeCache {
public:
    explicit InodeCache(Machine& machine);
    // Every Inode must have been released (its mappings are gone with the address spaces).
    ~InodeCache();
    InodeCache(const InodeCache&) = delete;
    InodeCache& operator=(const InodeCache&) = delete;

    // iget(): the Inode of the regular file fd, described by st, with a reference; opened for
    // writing too when writable (the fd allows it), if it was not yet. ENOMEM without memory;
    // the errors of opening its descriptors.
    VmResult<Inode*> get(int fd, const struct stat& st, bool writable) VM_EXCLUDES(m_lock);
    // The Inode of a file mapped now, with a reference, or nullptr.
    Inode* find(dev_t dev, ino_t ino) VM_EXCLUDES(m_lock);
    // The same for the file that fd names: one load and no system call while no file is
    // mapped, as the shim asks this of every read(2) and write(2).
    Inode* find(int fd) VM_EXCLUDES(m_lock);
    // A reference more (a VMA split, a fork), on an Inode that has one already.
    void grab(Inode& inode);
    // iput(): drops a reference; the last releases the Inode.
    void put(Inode& inode) VM_EXCLUDES(m_lock);
    // visit(Inode&) for each Inode with dirty pages, holding a reference on it meanwhile.
    template<typename Visit>
    void for_each_dirty(Visit&& visit) VM_EXCLUDES(m_lock) { for_each(true, visit); }
    // visit(Inode&) for each Inode in use, the same way.
    template<typename Visit>
    void for_each_in_use(Visit&& visit) VM_EXCLUDES(m_lock) { for_each(false, visit); }
    // Inodes in use (mapped), for tests.
    std::size_t in_use() const VM_EXCLUDES(m_lock);

    // fork(2): the lock is held across it, so that the child's copy of the list is whole.
    void lock_for_fork() VM_ACQUIRE(m_lock) { m_lock.lock(); }
    void unlock_after_fork() VM_RELEASE(m_lock) { m_lock.unlock(); }

private:
    template<typename Visit>
    void for_each(bool dirty_only, Visit& visit) VM_EXCLUDES(m_lock);
    // Up to max Inodes in use (with dirty pages, if dirty_only) from slot *next on, each with
    // a reference; *next becomes the slot after the last one looked at.
    std::size_t collect(Inode** out, std::size_t max, std::size_t* next, bool dirty_only) VM_EXCLUDES(m_lock);

    Machine& m_machine;
    mutable Mutex m_lock;
    std::vector<std::unique_ptr<Inode>> m_all VM_GUARDED_BY(m_lock);
    // Inodes with references, changed under m_lock and read without it.
    std::atomic<std::size_t> m_in_use { 0 };
};

template<typename Visit>
void InodeCache::for_each(bool dirty_only, Visit& visit)
{
    constexpr std::size_t kBatch = 64;
    Inode* batch[kBatch];
    std::size_t next = 0;
    while (std::size_t count = collect(batch, kBatch, &next, dirty_only)) {
        for (std::size_t i = 0; i < count; ++i) {
            visit(*batch[i]);
            put(*batch[i]);
        }
    }
}

} // namespace vmemu
