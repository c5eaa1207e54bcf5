#pragma once
#include <atomic>
#include <boost/intrusive/set.hpp>
#include <memory>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/mm/anon_vma.hpp>
#include <vmemu/mm/vma.hpp>

namespace vmemu {

class Inode;
class InodeCache;

// The VMAs of an address space in a Boost.Intrusive red-black tree keyed by start, with
// find_vma()'s last-hit cache (Linux's mmap_cache/vmacache).
// Invariants: VMAs are disjoint and page-aligned; the tree owns them (they are freed when
// removed through erase() or when the tree dies); at most max_count() of them exist; every VMA
// is on its anon_vma's list while it is in the tree, and a VMA that maps a file is on the
// file's i_mmap list and holds a reference on its Inode.
// Locking: changes need the owner's exclusive mmap_lock, and take the anon_vma's lock
// themselves where a range or a list changes; find_vma() may run under the shared one, from
// the fault path (no allocation there: the tree only links).
class VmaTree {
    struct KeyOfVma {
        using type = VirtAddr;
        VirtAddr operator()(const Vma& vma) const { return vma.start(); }
    };
    using Tree = boost::intrusive::set<Vma, boost::intrusive::member_hook<Vma, VmaTreeHook, &Vma::tree_hook>,
        boost::intrusive::key_of_value<KeyOfVma>, boost::intrusive::constant_time_size<true>>;

public:
    using iterator = Tree::iterator;
    using const_iterator = Tree::const_iterator;

    // owner is the address space the VMAs belong to (null for a tree on its own, in tests).
    // inodes: where file VMAs give back their Inode references (null: no file VMAs).
    VmaTree(AddressSpace* owner, AnonVmaCache& anon_vmas, std::size_t max_count, InodeCache* inodes = nullptr)
        : m_owner(owner)
        , m_anon_vmas(anon_vmas)
        , m_inodes(inodes)
        , m_max_count(max_count)
    {
    }
    ~VmaTree();
    VmaTree(const VmaTree&) = delete;
    VmaTree& operator=(const VmaTree&) = delete;

    // Linux's find_vma(): the first VMA that ends above address, or nullptr. It may start above
    // address; callers check. Safe under the shared mmap_lock.
    Vma* find_vma(VirtAddr address) const;
    // The first VMA overlapping [start, end), or nullptr.
    Vma* find_vma_intersection(VirtAddr start, VirtAddr end) const;
    Vma* prev(const Vma& vma) const;
    Vma* next(const Vma& vma) const;

    // A new VMA on anon_vma's list, or on a new anon_vma's when anon_vma is null; mapping
    // file, if given, whose reference (taken by the caller) it keeps. The range must not
    // overlap an existing VMA. ENOMEM at max_count() or without memory (the caller keeps its
    // reference then).
    VmResult<Vma*> insert(VirtAddr start, VirtAddr end, std::uint32_t flags, std::uint64_t pgoff,
        AnonVma* anon_vma = nullptr, Inode* file = nullptr);
    // find_mergeable_anon_vma(): the anon_vma of a neighbour that a new VMA of [start, end)
    // with flags and pgoff would merge with, or null.
    AnonVma* mergeable_anon_vma(VirtAddr start, VirtAddr end, std::uint32_t flags, std::uint64_t pgoff) const;
    void erase(Vma& vma);
    // Splits vma at address (strictly inside it); returns the upper part. ENOMEM at max_count().
    VmResult<Vma*> split(Vma& vma, VirtAddr address);
    // If vma and its successor can merge, merges them into vma. Returns vma.
    Vma& try_merge_next(Vma& vma);
    // Merges vma with its neighbours where possible; returns the surviving VMA.
    Vma& try_merge_around(Vma& vma);
    // Sets a new start of vma (only shrinking or growing into free space).
    void resize(Vma& vma, VirtAddr start, VirtAddr end, std::uint64_t pgoff);

    std::size_t size() const { return m_tree.size(); }
    std::size_t max_count() const { return m_max_count; }
    iterator begin() { return m_tree.begin(); }
    iterator end() { return m_tree.end(); }
    const_iterator begin() const { return m_tree.begin(); }
    const_iterator end() const { return m_tree.end(); }
    iterator iterator_to(Vma& vma) { return m_tree.iterator_to(vma); }

    void verify_invariants() const;

private:
    void invalidate_cache() { m_cache.store(nullptr, std::memory_order_relaxed); }

    void link_file(Vma& vma);
    void unlink_file(Vma& vma);

    AddressSpace* m_owner;
    AnonVmaCache& m_anon_vmas;
    InodeCache* m_inodes;
    Tree m_tree;
    std::size_t m_max_count;
    mutable std::atomic<Vma*> m_cache { nullptr };
};

} // namespace vmemu
