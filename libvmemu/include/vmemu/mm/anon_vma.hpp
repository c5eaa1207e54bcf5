#pragma once
#include <boost/intrusive/list.hpp>
#include <cstdint>
#include <memory>
#include <vector>
#include <vmemu/base/thread_annotations.hpp>
#include <vmemu/mm/vma.hpp>
#include <vmemu/sync/mutex.hpp>
#include <vmemu/sync/rw_semaphore.hpp>

namespace vmemu {

class AddressSpace;
struct PageFrame;

// Linux's anon_vma in its object-based form from before anon_vma_chain (2.6.9 to 2.6.33): the
// VMAs, in any address space, that may map one family of anonymous pages. An anonymous page
// names its anon_vma in page.mapping and its linear index in page.index; a VMA of the family
// maps it, if at all, at vma.start + (index - vma.pgoff) pages.
// - A VMA created by mmap gets a new anon_vma, unless it merges with a neighbour, whose it takes
//   (find_mergeable_anon_vma()); the pieces of a split keep theirs; a VMA moved by mremap keeps
//   its anon_vma and pgoff, so that its pages need no new index.
// - The VMAs of a forked address space join their parent's anon_vmas (anon_vma_fork() before
//   anon_vma_chain): a walk may look at a VMA that cannot map the page, and the page-table
//   check under the page_table_lock rules it out.
// Invariants: a VMA is on the list of exactly its own anon_vma; an anon_vma with no VMA is in
// its cache's free list.
// Locking: m_lock, shared for a walk, exclusive to link or unlink a VMA or to change the range
// or pgoff of a linked one (its address space's mmap_lock is held exclusive as well). In the
// lock order it comes after the Machine's spaces lock and before any page_table_lock.
// Memory: type-stable, as Linux's anon_vma cache (SLAB_TYPESAFE_BY_RCU): a freed anon_vma goes
// back to its cache, never to the heap while the Machine lives, so that reclaim may lock the
// anon_vma an isolated page names even if it was freed meanwhile.
class AnonVma {
    using VmaList = boost::intrusive::list<Vma, boost::intrusive::member_hook<Vma, AnonVmaHook, &Vma::anon_vma_node>,
        boost::intrusive::constant_time_size<true>>;

public:
    RwSemaphore& lock() VM_RETURN_CAPABILITY(m_lock) { return m_lock; }
    void link(Vma& vma) VM_REQUIRES(m_lock) { m_vmas.push_back(vma); }
    void unlink(Vma& vma) VM_REQUIRES(m_lock) { m_vmas.erase(m_vmas.iterator_to(vma)); }
    bool empty() const VM_REQUIRES(m_lock) { return m_vmas.empty(); }
    std::size_t vma_count() const VM_REQUIRES_SHARED(m_lock) { return m_vmas.size(); }

    // rmap_walk_anon() for one page index: visit(space, vpn) for every VMA on the list whose
    // pgoff range holds index (space is the VMA's address space, null for a VMA tree of its own).
    template <typename Visit>
    void for_each_mapping(std::uint64_t index, Visit&& visit) const VM_REQUIRES_SHARED(m_lock)
    {
        for (const Vma& vma : m_vmas) {
            if (index >= vma.pgoff() && index - vma.pgoff() < vma.pages())
                visit(vma.mm(), vma.start().vpn() + (index - vma.pgoff()));
        }
    }

private:
    mutable RwSemaphore m_lock;
    VmaList m_vmas VM_GUARDED_BY(m_lock);
};

// The anon_vma cache of a Machine: type-stable storage, allocated outside the fault path.
// Locking: m_lock, a leaf.
class AnonVmaCache {
public:
    AnonVmaCache() = default;
    AnonVmaCache(const AnonVmaCache&) = delete;
    AnonVmaCache& operator=(const AnonVmaCache&) = delete;

    // A new, empty anon_vma, or nullptr when there is no memory for one.
    AnonVma* alloc() VM_EXCLUDES(m_lock);
    // Gives back an anon_vma whose list is empty.
    void free(AnonVma& anon_vma) VM_EXCLUDES(m_lock);
    // How many are in use (for /proc/slabinfo-style accounting and tests).
    std::size_t in_use() const VM_EXCLUDES(m_lock);

private:
    mutable Mutex m_lock;
    std::vector<std::unique_ptr<AnonVma>> m_all VM_GUARDED_BY(m_lock);
    std::vector<AnonVma*> m_free VM_GUARDED_BY(m_lock);
};

// The places at which a page is mapped, or would be: what a walk of its anon_vma, or of its
// file's i_mmap, found.
struct RmapTarget {
    AddressSpace* space;
    std::uint64_t vpn;
};

// Collects the targets of a page (page.mapping an AnonVma, or an Inode for a page-cache page)
// into out, up to capacity. Returns how many there are, which may exceed capacity (then out
// holds the first ones). The caller holds the Machine's spaces lock shared, which keeps the
// spaces alive once the anon_vma's or i_mmap's lock is dropped.
std::size_t rmap_targets(const PageFrame& page, RmapTarget* out, std::size_t capacity);

} // namespace vmemu
