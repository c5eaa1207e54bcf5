#pragma once
#include <cstdint>
#include <vector>
#include <vmemu/base/thread_annotations.hpp>
#include <vmemu/sync/spinlock.hpp>

namespace vmemu {

// The slot allocator of mm/swapfile.c: one swap_map byte per page slot (a count of swap PTEs
// that refer to the slot, plus SWAP_HAS_CACHE while the swap cache holds the slot's page),
// and clusters of 256 slots so that a reclaim batch lands on consecutive slots, which
// swap-in readahead then reads back together.
// Invariants: slot 0 (the header) is SWAP_MAP_BAD; a slot is free exactly when its byte is 0;
// m_cluster_used counts the non-free slots of each cluster; a cluster is on the free list
// exactly when none of its slots is in use and it is not the current cluster.
// Locking: m_lock, a spinlock (si->lock): allocation runs in reclaim, freeing in faults.
class SwapSlots {
public:
    static constexpr std::uint32_t kClusterSlots = 256; // SWAPFILE_CLUSTER
    static constexpr std::uint8_t kHasCache = 0x40;     // SWAP_HAS_CACHE
    static constexpr std::uint8_t kMapBad = 0x3f;       // SWAP_MAP_BAD
    static constexpr std::uint8_t kMapMax = 0x3e;       // SWAP_MAP_MAX
    static constexpr std::uint8_t kCountMask = 0x3f;

    // Slots 1..last_page.
    explicit SwapSlots(std::uint32_t last_page);

    // Takes up to count free slots for pages entering the swap cache (their bytes become
    // SWAP_HAS_CACHE), consecutive where a cluster allows. Returns how many it wrote to out.
    std::size_t alloc(std::size_t count, std::uint32_t* out) VM_EXCLUDES(m_lock);
    // A swap PTE now refers to offset (swap_duplicate()); false if the count is at its maximum.
    bool add_reference(std::uint32_t offset) VM_EXCLUDES(m_lock);
    // A swap PTE no longer refers to offset (swap_free()). Returns the remaining byte.
    std::uint8_t drop_reference(std::uint32_t offset) VM_EXCLUDES(m_lock);
    // The swap cache let go of offset's page. Returns the remaining byte.
    std::uint8_t drop_cache(std::uint32_t offset) VM_EXCLUDES(m_lock);
    // The swap cache takes offset again (a swap-in of a slot that is referenced but not cached).
    // False if another swap-in holds it, or it is free.
    bool take_cache(std::uint32_t offset) VM_EXCLUDES(m_lock);

    std::uint8_t map_value(std::uint32_t offset) const VM_EXCLUDES(m_lock);
    std::uint32_t last_page() const { return m_last_page; }
    std::uint32_t total_slots() const { return m_last_page; }
    std::uint32_t nr_free() const { return m_nr_free.load(std::memory_order_relaxed); }
    void verify_invariants() const VM_EXCLUDES(m_lock);

private:
    static constexpr std::uint32_t kNoCluster = UINT32_MAX;
    std::uint32_t cluster_of(std::uint32_t offset) const { return offset / kClusterSlots; }
    bool take_free_cluster_locked() VM_REQUIRES(m_lock);
    void slot_freed_locked(std::uint32_t offset) VM_REQUIRES(m_lock);

    std::uint32_t m_last_page;
    mutable Spinlock m_lock;
    std::vector<std::uint8_t> m_swap_map VM_GUARDED_BY(m_lock);
    std::vector<std::uint16_t> m_cluster_used VM_GUARDED_BY(m_lock);
    std::vector<std::uint32_t> m_cluster_next VM_GUARDED_BY(m_lock); // the free-cluster list's links
    std::vector<bool> m_cluster_listed VM_GUARDED_BY(m_lock);
    std::uint32_t m_free_clusters VM_GUARDED_BY(m_lock) { kNoCluster };
    std::uint32_t m_current_cluster VM_GUARDED_BY(m_lock) { kNoCluster };
    std::uint32_t m_scan_from VM_GUARDED_BY(m_lock) { 1 };
    std::atomic<std::uint32_t> m_nr_free { 0 };
};

} // namespace vmemu
