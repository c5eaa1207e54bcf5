#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vmemu/address_space.hpp>
#include <vmemu/sync/mutex.hpp>

namespace vmemu::preload {

// The program's heap in emulated memory, built as the kernel builds kmalloc(): slab caches
// for the kmalloc size classes (kmalloc-16 ... kmalloc-8k), SLUB-like, and a VMA of its own
// for anything larger (kmalloc_large()). Besides the kernel's classes (the powers of two, 96
// and 192) there are classes halfway between the powers of two, and 5k: a program's
// allocations are not the kernel's, and sqlite's page cache, for one, allocates 4.3 KiB
// objects, which kmalloc-8k would hold at 54% use.
// - Slabs are 64 KiB, carved from one VMA and aligned to their size, so that the objects of a
//   power-of-two class are aligned to it. A slab's descriptor (struct slab) lives outside
//   emulated memory; a free object holds the pointer to the next free one, as SLUB's freelist
//   does. Objects are handed out fresh from the slab's end before the freelist is built, so a
//   new slab costs no frames until its objects are used.
// - A slab whose last object goes gives its frames back (MADV_DONTNEED) and returns to the
//   free slabs, unless it is its cache's only partial slab.
// - Each thread keeps up to kThreadCacheDepth free objects of each class (SLUB's per-CPU
//   slabs, kmem_cache_cpu), so that most allocations and frees take no lock; objects in a
//   thread's cache count as in use for their slab, and go back when the thread ends.
// - A large allocation is a mapping of its own with a 16-byte header (the mapping) right
//   before the pointer; a fresh mapping reads as zero, so calloc() need not clear it.
// Invariants: a slab is on its cache's partial list exactly when it has both used and free
// objects, or is the cache's last empty slab.
// Locking: m_lock, a futex mutex, for the slabs; the thread caches are the threads' own. Heap code touches emulated memory (freelist pointers,
// headers) with it held; vmemu's fault path never takes it, so those faults are safe.
class Kmalloc {
public:
    static constexpr std::size_t kSlabBytes = 64 * 1024;
    static constexpr std::size_t kMaxSlabObject = 8192;
    static constexpr std::size_t kMinAlign = 16;
    static constexpr std::uint32_t kThreadCacheDepth = 32;

    // Maps the slab area (slab_bytes of the space's virtual memory). False when it cannot.
    bool init(AddressSpace& space, std::size_t slab_bytes);
    // nullptr when memory runs out (the caller sets ENOMEM). align is a power of two.
    void* alloc(std::size_t size, std::size_t align);
    void free(void* pointer);
    std::size_t usable_size(const void* pointer) const;
    // realloc() of a large block to a large size, by moving its mapping; nullptr when that
    // cannot be done (the caller copies instead).
    void* realloc_large(void* pointer, std::size_t size)
    {
        return in_slabs(pointer) ? nullptr : large_realloc(pointer, size);
    }
    // fork(2): the slabs are held from before fork() until after it, so that the child
    // inherits no change half made.
    void lock_for_fork() VM_ACQUIRE(m_lock) { m_lock.lock(); }
    void unlock_after_fork() VM_RELEASE(m_lock) { m_lock.unlock(); }
    // /proc/slabinfo (version 2.1) of the kmalloc caches, largest first as the kernel lists
    // them; objects in the threads' caches count as active.
    std::string slabinfo() const;
    bool owns(const void* pointer) const
    {
        return m_space && m_space->in_reservation(VirtAddr(reinterpret_cast<std::uintptr_t>(pointer)));
    }

private:
    static constexpr std::uint32_t kNone = UINT32_MAX;
    static constexpr std::array<std::uint32_t, 19> kClassSizes { 16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768,
        1024, 1536, 2048, 3072, 4096, 5120, 6144, 8192 };
    // A thread's free objects, per class.
    struct ThreadCache {
        std::array<std::array<void*, kThreadCacheDepth>, kClassSizes.size()> objects;
        std::array<std::uint32_t, kClassSizes.size()> count {};
        Kmalloc* owner { nullptr };
        bool drained { false }; // the thread is ending: no more caching
        ~ThreadCache();
    };
    static ThreadCache& thread_cache();
    void drain(ThreadCache& cache);
    struct Slab {
        void* freelist;
        std::uint32_t cache;
        std::uint32_t inuse;
        std::uint32_t carved; // objects handed out fresh so far
        std::uint32_t prev;
        std::uint32_t next;
        bool partial;
        bool discarded; // back with the free slabs, its frames given back
    };
    struct Cache {
        std::uint32_t size;
        std::uint32_t objects;
        std::uint32_t partial { kNone };
    };
    struct LargeHeader {
        std::uintptr_t mapping;
        std::size_t length;
    };

    static std::uint32_t class_for(std::size_t size, std::size_t align);
    std::uint32_t slab_index(const void* pointer) const
    {
        return static_cast<std::uint32_t>((reinterpret_cast<std::uintptr_t>(pointer) - m_slabs_start) / kSlabBytes);
    }
    bool in_slabs(const void* pointer) const
    {
        auto address = reinterpret_cast<std::uintptr_t>(pointer);
        return address >= m_slabs_start && address < m_slabs_end;
    }
    void* slab_alloc(std::uint32_t cache) VM_REQUIRES(m_lock);
    void slab_free(void* pointer) VM_REQUIRES(m_lock);
    std::uint32_t new_slab(std::uint32_t cache) VM_REQUIRES(m_lock);
    void link_partial(std::uint32_t index) VM_REQUIRES(m_lock);
    void unlink_partial(std::uint32_t index) VM_REQUIRES(m_lock);
    void* large_alloc(std::size_t size, std::size_t align);
    void large_free(void* pointer);
    void* large_realloc(void* pointer, std::size_t size);
    // A pointer this heap never gave out: one line, then abort(), as glibc does.
    [[noreturn]] static void invalid_pointer(const char* function, const void* pointer);

    AddressSpace* m_space { nullptr };
    std::uintptr_t m_slabs_start { 0 };
    std::uintptr_t m_slabs_end { 0 };
    Slab* m_slab_table { nullptr }; // one per slab of the area, outside emulated memory
    std::uint32_t m_slab_count { 0 };
    mutable Mutex m_lock;
    std::array<Cache, kClassSizes.size()> m_caches VM_GUARDED_BY(m_lock) {};
    std::uint32_t m_next_fresh_slab VM_GUARDED_BY(m_lock) { 0 };
    std::uint32_t m_free_slabs VM_GUARDED_BY(m_lock) { kNone };
};

} // namespace vmemu::preload
