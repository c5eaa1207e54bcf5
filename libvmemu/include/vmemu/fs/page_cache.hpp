#pragma once
#include <atomic>
#include <cstdint>
#include <optional>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/mm/page_table.hpp>
#include <vmemu/phys/page_frame.hpp>

namespace vmemu {

class FrameArena;
class Machine;

// One file's pages in memory, Linux's i_pages: a radix tree from the page index in the file to
// the frame that caches it, or to the shadow of an evicted page (workingset.c keeps those in
// the same slots). The tree is vmemu's four-level page table keyed by index, its nodes frames
// counted as nr_slab_reclaimable, like Linux's radix_tree_node slab.
// Invariants: a slot holds 0, a page (holding the cache's reference, its mapping the owning
// Inode and its index the slot's), or a shadow. A page leaves the cache only with
// its references frozen, so a lookup that takes one finds the page still there.
// Locking: slots are atomics changed by compare-and-swap; lookups are lock-free and
// async-signal-safe; inserting may allocate tree nodes from the buddy allocator (never the
// heap). The nodes are freed when the cache dies, empty.
class PageCache {
public:
    // The largest index: files up to 256 TiB, the tree's 36 bits of index.
    static constexpr std::uint64_t kMaxIndex = (std::uint64_t { 1 } << 36) - 1;

    // tree: an empty page table, counted as nr_slab_reclaimable.
    PageCache(PageTable tree, Machine& machine);
    PageCache(const PageCache&) = delete;
    PageCache& operator=(const PageCache&) = delete;

    // find_get_page(): the page at index with a reference, or nullptr.
    PageFrame* find_get(std::uint64_t index) const;
    // Whether a page (not a shadow) is at index, without a reference.
    bool contains(std::uint64_t index) const;
    // Whether page is the one at index (it may have left, and its frame gone elsewhere).
    bool holds(const PageFrame& page, std::uint64_t index) const;
    // add_to_page_cache(): page (which the caller holds, locked, not yet visible) takes the
    // slot, unless another page holds it. The cache takes a reference; page.mapping and
    // page.index are set before it becomes visible. Exists when a page is there already,
    // NoMemory when a tree node could not be allocated.
    enum class AddResult : std::uint8_t { Added, Exists, NoMemory };
    AddResult add(PageFrame& page, void* mapping, std::uint64_t index, std::optional<std::uint64_t>* shadow_out);
    // __filemap_remove_folio(): takes page out of its slot, leaving shadow if any. The
    // caller has frozen the page's references or holds its last ones; the cache's reference
    // is the caller's to drop. False if the slot no longer holds page.
    bool remove(PageFrame& page, std::optional<std::uint64_t> shadow);

    // Calls visit(index, PageFrame&) for each page (not shadow) with index in [first, last],
    // without references: the caller takes one with Lruvec::get_unless_zero() before using it.
    template<typename Visit>
    void for_each_page(std::uint64_t first, std::uint64_t last, Visit&& visit) const;
    // Clears the shadows in [first, last] (truncation). The tree's nodes stay until the cache
    // dies: lock-free lookups may be walking them.
    void clear_shadows(std::uint64_t first, std::uint64_t last);

    std::size_t nrpages() const { return m_nrpages.load(std::memory_order_relaxed); }

private:
    // Slot values: a page is its frame number with kPageTag; a shadow has kShadowTag.
    static constexpr std::uint64_t kPageTag = 1;
    static constexpr std::uint64_t kShadowTag = 2;
    static constexpr unsigned kValueShift = 12;
    static VirtAddr key(std::uint64_t index) { return VirtAddr(index << kPageShift); }
    PageFrame* page_of(std::uint64_t value) const;

    PageTable m_tree;
    Machine* m_machine;
    FrameArena* m_arena;
    std::atomic<std::size_t> m_nrpages { 0 };
};

template<typename Visit>
void PageCache::for_each_page(std::uint64_t first, std::uint64_t last, Visit&& visit) const
{
    if (first > last)
        return;
    std::uint64_t end = std::min(last, kMaxIndex) + 1;
    m_tree.for_each_slot(key(first), key(end), [&](VirtAddr address, PageTable::Entry& slot) {
        std::uint64_t value = slot.load(std::memory_order_acquire);
        if (value & kPageTag)
            visit(address.vpn(), *page_of(value));
    });
}

} // namespace vmemu
