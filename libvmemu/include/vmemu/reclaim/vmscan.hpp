#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vmemu/phys/page_frame.hpp>
#include <vmemu/reclaim/lruvec.hpp>
#include <vmemu/swap/swap_entry.hpp>

namespace vmemu {

class Machine;

enum class ReclaimMode : std::uint8_t { Kswapd, Direct };

// Page reclaim, as mm/vmscan.c does it. For anonymous memory: the inactive list is scanned
// from its tail in batches of SWAP_CLUSTER_MAX; a page whose PTE was referenced gets a second
// chance (and is activated when referenced twice); an unreferenced one gets a swap slot, is
// unmapped everywhere (its PTE becomes a swap entry with a workingset shadow) and written out,
// and its frame is freed when the write completes. The active list is aged into the inactive
// one when the inactive list becomes smaller than it. Page-cache pages live on the file lists:
// clean ones are dropped (leaving a shadow in the cache), dirty ones written back to their
// file first; they never go to swap. The file lists are scanned first while the page cache
// is a fair part of memory.
// Accessed bits cost faults: only pages reclaim is considering lose theirs, and losing it
// takes them out of the hardware view so that their next touch sets it again.
// Locking: takes the Machine's spaces lock (shared) around reverse-map walks, then the
// address space's page_table_lock, then the lru_lock. Never called with a page_table_lock held.
class Vmscan {
public:
    static constexpr std::size_t kSwapClusterMax = 32;

    explicit Vmscan(Machine& machine)
        : m_machine(machine)
    {
    }

    // shrink_node(): reclaims until nr_to_reclaim frames are freed or on their way out.
    // Returns how many; 0 means nothing can be reclaimed now. Below kDefPriority (the
    // kernel's DEF_PRIORITY), anonymous memory is scanned even while the cache is large.
    static constexpr unsigned kDefPriority = 12;
    std::size_t shrink_node(std::size_t nr_to_reclaim, ReclaimMode mode, unsigned priority = kDefPriority);
    // try_to_free_pages(): direct reclaim for an allocation of pages frames, waiting for the
    // writeback it starts. True once free frames reach min + pages, or when it freed frames
    // that others took meanwhile (worth another try); false when it freed nothing.
    bool direct_reclaim(std::size_t pages);
    // reclaim_pages() for MADV_PAGEOUT: swaps out pages the caller isolated (Lruvec::
    // isolate_page()), referenced or not. Returns how many leave memory.
    std::size_t reclaim_pages(PageFrame** pages, std::size_t count);
    // The completion of a swap write (from the device's completion thread).
    void end_swap_write(PageFrame& page, int result, ReclaimMode mode);

private:
    void shrink_active_list(LruList list, std::size_t nr_to_scan, ReclaimMode mode);
    std::size_t shrink_inactive_list(LruList list, std::size_t nr_to_scan, ReclaimMode mode);
    // One batch of one LRU (anonymous or file), aging its active list first when needed.
    std::size_t shrink_lru(LruList inactive, LruList active, ReclaimMode mode);
    // shrink_folio_list() for one isolated page-cache page: a clean, unreferenced page leaves
    // its mappings and the cache (with a workingset shadow); a dirty one is written back first.
    enum class FileVerdict : std::uint8_t { Freed, Activate, Writeback, Keep };
    FileVerdict shrink_file_page(PageFrame& page, ReclaimMode mode, bool referenced_ptes);
    // try_to_unmap() for a page-cache page: every PTE that maps it becomes empty.
    enum class UnmapOutcome : std::uint8_t;
    UnmapOutcome try_to_unmap_file(PageFrame& page);
    enum class References : bool { Check, Ignore };
    // What shrink_page_list() did besides freeing, for mm_vmscan_lru_shrink_inactive.
    struct ShrinkStats {
        std::size_t activated { 0 };
        std::size_t unmap_failed { 0 };
        std::size_t writeback { 0 };
    };
    std::size_t shrink_page_list(PageFrame** pages, std::size_t count, ReclaimMode mode, References references,
        ShrinkStats* stats = nullptr);
    // folio_referenced() for a batch: referenced[i] says whether one of page i's PTEs was
    // accessed since the last look, and clears them. Unmapped pages are not referenced; a page
    // with more mappings than a look can hold is. The hardware view of the mapped ones is
    // dropped in runs, one system call per run of neighbours in each address space.
    void page_referenced(PageFrame** pages, std::size_t count, bool* referenced);
    // try_to_unmap(): every PTE that maps page becomes a swap PTE (page is in the swap cache).
    // All or nothing: when one mapping stays, those already unmapped are restored.
    // NotMapped when no PTE mapped it.
    enum class UnmapOutcome : std::uint8_t { Unmapped, NotMapped, Failed };
    UnmapOutcome try_to_unmap(PageFrame& page, std::uint64_t shadow);
    // Every swap PTE of page's family that holds entry maps page again. Returns how many.
    std::size_t restore_mappings(PageFrame& page, SwapEntry entry);
    // The mappings a walk of one page's anon_vma looks at, at most.
    static constexpr std::size_t kMaxMappings = 64;

    Machine& m_machine;
    std::atomic<bool> m_write_error_logged { false };
};

} // namespace vmemu
