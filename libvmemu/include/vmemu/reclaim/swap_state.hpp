#pragma once
#include <memory>
#include <optional>
#include <vmemu/base/pfn.hpp>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/phys/page_frame.hpp>
#include <vmemu/reclaim/vmscan.hpp>
#include <vmemu/swap/swap_cache.hpp>
#include <vmemu/swap/swap_device.hpp>

namespace vmemu {

class Machine;

// The swap side of a Machine (mm/swap_state.c and mm/swapfile.c): the swap device, the swap
// cache, and the life of a page on its way to and from the device.
//
// References and flags, as in Linux:
// - a page in the swap cache has PG_swapcache, its slot in private_data, and one reference
//   held by the cache; its slot has SWAP_HAS_CACHE;
// - every swap PTE holds one count of its slot in swap_map;
// - PG_locked is set while the page is being read, PG_writeback while it is being written;
//   waiters sleep on the page's flags word;
// - a page that is read in joins the LRU when the read completes.
// Locking: the swap cache and swap_map are lock-free or take the device's spinlock; the
// completion thread takes the lru_lock and, to restore PTEs, a page_table_lock.
class SwapState {
public:
    static VmResult<std::unique_ptr<SwapState>> create(const SwapDeviceConfig& config, Machine& machine);
    ~SwapState();

    SwapDevice& device() { return *m_device; }
    const SwapDevice& device() const { return *m_device; }
    SwapCache& cache() { return *m_cache; }
    const SwapCache& cache() const { return *m_cache; }

    // add_to_swap(): gives each page a slot and puts it in the swap cache. Returns how many of
    // the first pages got one; the rest got none (swap is full).
    std::size_t add_to_swap(PageFrame** pages, std::size_t count);
    // delete_from_swap_cache(): page leaves the cache and drops the cache's reference, which
    // must not be the last (the caller holds one). False, changing nothing, if it was not in
    // the cache (or another caller took it out first).
    bool delete_from_swap_cache(PageFrame& page);
    // Frees a page that only the cache and the caller still hold (refcount 2), when nothing
    // is in flight: it leaves the cache and goes back to the allocator. False if others hold it.
    bool try_free_cached_page(PageFrame& page);
    // Frees page (in the swap cache) if no swap PTE refers to its slot any more and nobody holds it.
    void free_if_unused(PageFrame& page);
    // swap_free(): a swap PTE that referred to entry is gone. If only the cache still holds
    // the slot, its page is freed too when nobody uses it.
    void swap_free(SwapEntry entry);
    // lookup_swap_cache(): the page caching entry, with a reference, or nullptr.
    PageFrame* lookup_get(SwapEntry entry);

    // The read of a swap fault, and cluster readahead around it, in one submission: returns
    // the page (with the caller's reference, PG_locked until the read completes), or nullptr
    // when another fault is reading it already or no frame is free (*no_memory says which).
    PageFrame* read_swap_page(SwapEntry entry, bool* no_memory);

    // read_swap_cache_async() for readahead and MADV_WILLNEED: starts reading the entries (up to
    // kMaxSwapinBatch) that are not in the cache already, without waiting and without reclaim.
    // Invalid entries are skipped. The frames are contiguous when a block is free, entry i in
    // frame first + i, near hint if possible. Returns how many reads it started.
    static constexpr std::size_t kMaxSwapinBatch = 64;
    std::size_t swapin_async(const SwapEntry* entries, std::size_t count, std::optional<Pfn> hint = std::nullopt);

    // The completion of a read (the device's handler calls it in the completion thread).
    void end_read(PageFrame& page, int result);

    // Sleep until the bit clears (the completion thread clears it and wakes the flags word).
    static void wait_on_page_flag(PageFrame& page, PageFlag flag);
    static void clear_and_wake(PageFrame& page, PageFlag flag);
    // Takes the last references (expected) at once, so that no lookup can take the page.
    static bool freeze_refs(PageFrame& page, std::int32_t expected);

    // What a swap write hands the device, to be handed back at completion: the frame, and
    // whether direct reclaim or kswapd wrote it.
    static std::uint64_t write_user_data(Pfn pfn, ReclaimMode mode);
    // The device's submit(), timed from here to the completion when tracing measures.
    void submit(const SwapIo* requests, std::size_t count);

    // Pages read around a faulting slot at most: page-cluster 3, as Linux's default.
    static constexpr std::uint32_t kReadaroundPages = 8;
    // A fault found a page that readahead brought in (swap_ra_hit).
    void note_readahead_hit() { m_readahead_hits.fetch_add(1, std::memory_order_relaxed); }

private:
    explicit SwapState(Machine& machine)
        : m_machine(machine)
    {
    }
    static void on_completion(void* context, std::uint64_t user_data, IoDirection direction, int result);
    // The device's read_now(), timed; and the end of a timed request (swap_io_done).
    int read_now(const SwapIo& io);
    void io_done(std::uint64_t pfn, IoDirection direction, int result);

    // __swapin_nr_pages(): the window follows the hits since the last fault, and is one page
    // for faults that neither hit nor continue a run.
    std::uint32_t readahead_window(std::uint32_t offset);
    // Puts a fresh frame in the cache for slot, locked for its read, and fills io. With
    // Readahead::Yes the cache holds the only reference; otherwise the caller holds one too.
    enum class Readahead : bool { No, Yes };
    void prepare_read(Pfn frame, std::uint32_t slot, Readahead readahead, SwapIo& io);

    Machine& m_machine;
    std::atomic<std::uint32_t> m_readahead_hits { 0 };
    std::atomic<std::uint32_t> m_last_readahead_offset { 0 };
    std::atomic<std::uint32_t> m_last_readahead_window { 0 };
    std::unique_ptr<SwapDevice> m_device;
    std::unique_ptr<SwapCache> m_cache;
    // When each frame's swap I/O was submitted, while tracing measures; 0 when not timed.
    std::unique_ptr<std::atomic<std::uint64_t>[]> m_io_started;
};

} // namespace vmemu
