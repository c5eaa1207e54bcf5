#pragma once
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
    // A reference more (a VMA split, a fork), on an Inode that has one already.
    void grab(Inode& inode);
    // iput(): drops a reference; the last releases the Inode.
    void put(Inode& inode) VM_EXCLUDES(m_lock);
    // visit(Inode&) for each Inode with dirty pages, holding a reference on it meanwhile.
    template<typename Visit>
    void for_each_dirty(Visit&& visit) VM_EXCLUDES(m_lock);
    // Inodes in use (mapped), for tests.
    std::size_t in_use() const VM_EXCLUDES(m_lock);

private:
    // Up to max Inodes in use with dirty pages, each with a reference.
    std::size_t collect_dirty(Inode** out, std::size_t max) VM_EXCLUDES(m_lock);

    Machine& m_machine;
    mutable Mutex m_lock;
    std::vector<std::unique_ptr<Inode>> m_all VM_GUARDED_BY(m_lock);
};

template<typename Visit>
void InodeCache::for_each_dirty(Visit&& visit)
{
    constexpr std::size_t kBatch = 64;
    Inode* batch[kBatch];
    std::size_t count = collect_dirty(batch, kBatch);
    for (std::size_t i = 0; i < count; ++i) {
        visit(*batch[i]);
        put(*batch[i]);
    }
}

} // namespace vmemu
