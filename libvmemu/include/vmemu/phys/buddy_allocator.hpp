#pragma once
#include <array>
#include <boost/intrusive/list.hpp>
#include <optional>
#include <string>
#include <vector>
#include <vmemu/base/pfn.hpp>
#include <vmemu/base/thread_annotations.hpp>
#include <vmemu/phys/frame_arena.hpp>
#include <vmemu/sync/spinlock.hpp>

namespace vmemu {

// The buddy allocator of mm/page_alloc.c: free frames in blocks of 2^order frames, orders
// 0..kMaxOrder, one free list per order. Freeing merges a block with its buddy (pfn ^ 2^order)
// while the buddy is free and of the same order.
// Invariants: a free block's head has type Buddy and its order; free blocks are aligned to
// their size, disjoint, and on the list of their order; nr_free is the sum of their sizes.
// Allocated frames are independent: any of them may be freed alone, at order 0.
// Locking: m_lock (the zone lock) guards everything; it is a spinlock and never held across a
// system call. The lists link frames without allocating.
class BuddyAllocator {
public:
    static constexpr unsigned kMaxOrder = 10;
    static constexpr unsigned kOrders = kMaxOrder + 1;

    // Manages frames [0, arena.frame_count()), all free at the start.
    explicit BuddyAllocator(FrameArena& arena);
    BuddyAllocator(const BuddyAllocator&) = delete;
    BuddyAllocator& operator=(const BuddyAllocator&) = delete;

    // A block of 2^order frames, aligned to its size, or nothing when no block is big enough.
    std::optional<Pfn> alloc_pages(unsigned order) VM_EXCLUDES(m_lock);
    // Claims exactly the frames [first, first + count) if every one of them is free; used to
    // give a virtual neighbour the physical neighbour. Returns false and changes nothing if not.
    bool alloc_range(Pfn first, std::size_t count) VM_EXCLUDES(m_lock);
    // Returns [first, first + count) frames, each allocated; merges with free buddies.
    void free_range(Pfn first, std::size_t count) VM_EXCLUDES(m_lock);
    void free_pages(Pfn first, unsigned order) VM_EXCLUDES(m_lock) { free_range(first, std::size_t { 1 } << order); }

    std::size_t nr_free() const { return m_nr_free.load(std::memory_order_relaxed); }
    std::size_t managed_pages() const { return m_arena.frame_count(); }
    // Free blocks per order, the figures of /proc/buddyinfo.
    std::array<std::size_t, kOrders> free_blocks() const VM_EXCLUDES(m_lock);
    // Every free block, by pfn: where the free memory lies, for pictures of it. Allocates;
    // O(free blocks log free blocks).
    struct FreeBlock {
        Pfn head;
        unsigned order;
    };
    std::vector<FreeBlock> free_block_map() const VM_EXCLUDES(m_lock);
    // Aborts with a message if an invariant does not hold. O(frames).
    // fork(2): held from before fork() until after it, so that the child inherits no change
    // half made (Machine::prepare_fork()).
    void lock_for_fork() VM_ACQUIRE(m_lock) { m_lock.lock(); }
    void unlock_after_fork() VM_RELEASE(m_lock) { m_lock.unlock(); }
    void verify_invariants() const VM_EXCLUDES(m_lock);

private:
    using FreeList = boost::intrusive::list<PageFrame,
        boost::intrusive::member_hook<PageFrame, PageListHook, &PageFrame::lru>,
        boost::intrusive::constant_time_size<true>>;

    void free_one_locked(Pfn pfn, unsigned order) VM_REQUIRES(m_lock);
    void add_block_locked(Pfn head, unsigned order) VM_REQUIRES(m_lock);
    void remove_block_locked(Pfn head) VM_REQUIRES(m_lock);
    // The head of the free block containing pfn, if pfn is free.
    std::optional<Pfn> free_block_containing_locked(Pfn pfn) const VM_REQUIRES(m_lock);
    void mark_allocated(Pfn first, std::size_t count);

    FrameArena& m_arena;
    mutable Spinlock m_lock;
    std::array<FreeList, kOrders> m_free_area VM_GUARDED_BY(m_lock);
    std::atomic<std::size_t> m_nr_free { 0 };
};

} // namespace vmemu
