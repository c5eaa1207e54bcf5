#include <new>
#include <vmemu/base/assert.hpp>
#include <vmemu/fs/inode.hpp>
#include <vmemu/fs/inode_cache.hpp>
#include <vmemu/mm/vma_tree.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

VmaTree::~VmaTree()
{
    while (!m_tree.empty())
        erase(*m_tree.begin());
}

Vma* VmaTree::find_vma(VirtAddr address) const
{
    Vma* cached = m_cache.load(std::memory_order_relaxed);
    if (cached && cached->contains(address))
        return cached;
    // upper_bound(address) is the first VMA starting above address; the one before it is the
    // only candidate that could contain address.
    auto it = m_tree.upper_bound(address);
    if (it != m_tree.begin()) {
        auto before = std::prev(it);
        if (before->end() > address) {
            m_cache.store(const_cast<Vma*>(&*before), std::memory_order_relaxed);
            return const_cast<Vma*>(&*before);
        }
    }
    return it == m_tree.end() ? nullptr : const_cast<Vma*>(&*it);
}

Vma* VmaTree::find_vma_intersection(VirtAddr start, VirtAddr end) const
{
    Vma* vma = find_vma(start);
    return vma && vma->start() < end ? vma : nullptr;
}

Vma* VmaTree::prev(const Vma& vma) const
{
    auto it = m_tree.iterator_to(vma);
    return it == m_tree.begin() ? nullptr : const_cast<Vma*>(&*std::prev(it));
}

Vma* VmaTree::next(const Vma& vma) const
{
    auto it = std::next(m_tree.iterator_to(vma));
    return it == m_tree.end() ? nullptr : const_cast<Vma*>(&*it);
}

void VmaTree::link_file(Vma& vma)
{
    if (!vma.file())
        return;
    Inode::WriteGuard guard(vma.file());
    vma.file()->link(vma);
}

void VmaTree::unlink_file(Vma& vma)
{
    if (!vma.file())
        return;
    {
        Inode::WriteGuard guard(vma.file());
        vma.file()->unlink(vma);
    }
    m_inodes->put(*vma.file());
}

VmResult<Vma*> VmaTree::insert(VirtAddr start, VirtAddr end, std::uint32_t flags, std::uint64_t pgoff,
    AnonVma* anon_vma, Inode* file)
{
    VM_ASSERT(start < end && start.is_page_aligned() && end.is_page_aligned());
    VM_ASSERT(!find_vma_intersection(start, end));
    if (m_tree.size() >= m_max_count)
        return vm_fail(ENOMEM, "too many VMAs (max_map_count)");
    AnonVma* fresh = nullptr;
    if (!anon_vma) {
        anon_vma = fresh = m_anon_vmas.alloc();
        if (!anon_vma)
            return vm_fail(ENOMEM, "no memory for an anon_vma");
    }
    VM_ASSERT(!file || m_inodes);
    auto* vma = new (std::nothrow) Vma(m_owner, *anon_vma, start, end, flags, pgoff, file);
    if (!vma) {
        if (fresh)
            m_anon_vmas.free(*fresh);
        return vm_fail(ENOMEM, "no memory for a VMA");
    }
    {
        ScopedLock guard(anon_vma->lock());
        anon_vma->link(*vma);
    }
    link_file(*vma);
    m_tree.insert(*vma);
    return vma;
}

AnonVma* VmaTree::mergeable_anon_vma(VirtAddr start, VirtAddr end, std::uint32_t flags, std::uint64_t pgoff) const
{
    Vma* after = find_vma(start);
    Vma* before = after ? prev(*after) : (m_tree.empty() ? nullptr : const_cast<Vma*>(&*std::prev(m_tree.end())));
    // Anonymous neighbours only: a file VMA's pgoff counts file pages, not addresses.
    if (before && !before->file() && before->end() == start && before->flags() == flags
        && before->pgoff() + before->pages() == pgoff)
        return before->anon_vma();
    if (after && !after->file() && after->start() == end && after->flags() == flags
        && pgoff + pages_between(start, end) == after->pgoff())
        return after->anon_vma();
    return nullptr;
}

void VmaTree::erase(Vma& vma)
{
    invalidate_cache();
    m_tree.erase(m_tree.iterator_to(vma));
    AnonVma& anon_vma = *vma.anon_vma();
    bool last;
    {
        ScopedLock guard(anon_vma.lock());
        anon_vma.unlink(vma);
        last = anon_vma.empty();
    }
    if (last)
        m_anon_vmas.free(anon_vma);
    unlink_file(vma);
    delete &vma;
}

VmResult<Vma*> VmaTree::split(Vma& vma, VirtAddr address)
{
    VM_ASSERT(address > vma.start() && address < vma.end() && address.is_page_aligned());
    if (m_tree.size() >= m_max_count)
        return vm_fail(ENOMEM, "too many VMAs (max_map_count)");
    std::uint64_t upper_pgoff = vma.pgoff() + pages_between(vma.start(), address);
    auto* upper = new (std::nothrow) Vma(m_owner, *vma.anon_vma(), address, vma.end(), vma.flags(), upper_pgoff,
        vma.file());
    if (!upper)
        return vm_fail(ENOMEM, "no memory for a VMA");
    upper->wb_err_since().store(vma.wb_err_since().load());
    if (vma.file())
        m_inodes->grab(*vma.file());
    upper->record_fault(vma.next_sequential_vpn(), vma.fault_around_window());
    invalidate_cache();
    {
        Inode::WriteGuard file_guard(vma.file());
        ScopedLock guard(vma.anon_vma()->lock());
        vma.set_range(vma.start(), address, vma.pgoff());
        vma.anon_vma()->link(*upper);
        if (vma.file())
            vma.file()->link(*upper);
    }
    m_tree.insert(*upper);
    return upper;
}

Vma& VmaTree::try_merge_next(Vma& vma)
{
    Vma* following = next(vma);
    if (!following || !vma.can_merge_with(*following))
        return vma;
    // One hold of the anon_vma's lock, so that a walk sees the pages of following in one VMA
    // or the other.
    invalidate_cache();
    m_tree.erase(m_tree.iterator_to(*following));
    {
        Inode::WriteGuard file_guard(vma.file());
        ScopedLock guard(vma.anon_vma()->lock());
        vma.set_range(vma.start(), following->end(), vma.pgoff());
        vma.anon_vma()->unlink(*following);
        if (following->file())
            following->file()->unlink(*following);
    }
    if (following->file())
        m_inodes->put(*following->file());
    delete following;
    return vma;
}

Vma& VmaTree::try_merge_around(Vma& vma)
{
    Vma& merged = try_merge_next(vma);
    Vma* before = prev(merged);
    if (before && before->can_merge_with(merged))
        return try_merge_next(*before);
    return merged;
}

void VmaTree::resize(Vma& vma, VirtAddr start, VirtAddr end, std::uint64_t pgoff)
{
    VM_ASSERT(start < end);
    invalidate_cache();
    // The key may change only if the order of the tree stays the same, which holds because
    // the caller only moves start into space no other VMA occupies.
    Inode::WriteGuard file_guard(vma.file());
    ScopedLock guard(vma.anon_vma()->lock());
    vma.set_range(start, end, pgoff);
}

void VmaTree::verify_invariants() const
{
    VM_ASSERT(m_tree.size() <= m_max_count);
    const Vma* previous = nullptr;
    for (const Vma& vma : m_tree) {
        VM_ASSERT(vma.start() < vma.end());
        VM_ASSERT(vma.start().is_page_aligned() && vma.end().is_page_aligned());
        if (previous)
            VM_ASSERT(previous->end() <= vma.start());
        previous = &vma;
    }
    Vma* cached = m_cache.load();
    if (cached) {
        bool found = false;
        for (const Vma& vma : m_tree)
            found |= &vma == cached;
        VM_ASSERT(found);
    }
}

} // namespace vmemu
