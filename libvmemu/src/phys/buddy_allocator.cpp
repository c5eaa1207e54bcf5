#include <algorithm>
#include <bit>
#include <vmemu/base/assert.hpp>
#include <vmemu/phys/buddy_allocator.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

BuddyAllocator::BuddyAllocator(FrameArena& arena)
    : m_arena(arena)
{
    ScopedLock guard(m_lock);
    // Carve [0, frames) into maximal aligned blocks, the way memblock hands memory to the buddy.
    std::uint64_t pfn = 0;
    std::uint64_t end = arena.frame_count();
    while (pfn < end) {
        unsigned order = kMaxOrder;
        while (order > 0 && ((pfn & ((1ull << order) - 1)) != 0 || pfn + (1ull << order) > end))
            --order;
        add_block_locked(Pfn(pfn), order);
        pfn += 1ull << order;
    }
}

void BuddyAllocator::add_block_locked(Pfn head, unsigned order)
{
    PageFrame& frame = m_arena.frame(head);
    frame.set_type(PageType::Buddy);
    frame.order = static_cast<std::uint8_t>(order);
    m_free_area[order].push_front(frame);
    m_nr_free.fetch_add(std::size_t { 1 } << order, std::memory_order_relaxed);
}

void BuddyAllocator::remove_block_locked(Pfn head)
{
    PageFrame& frame = m_arena.frame(head);
    VM_ASSERT(frame.type() == PageType::Buddy);
    m_free_area[frame.order].erase(m_free_area[frame.order].iterator_to(frame));
    m_nr_free.fetch_sub(std::size_t { 1 } << frame.order, std::memory_order_relaxed);
    frame.set_type(PageType::None);
}

void BuddyAllocator::mark_allocated(Pfn first, std::size_t count)
{
    for (std::size_t i = 0; i < count; ++i) {
        PageFrame& frame = m_arena.frame(first + i);
        frame.order = 0;
        frame.refcount.store(1, std::memory_order_relaxed);
    }
}

std::optional<Pfn> BuddyAllocator::alloc_pages(unsigned order)
{
    VM_ASSERT(order <= kMaxOrder);
    Pfn head;
    {
        ScopedLock guard(m_lock);
        unsigned current = order;
        while (current < kOrders && m_free_area[current].empty())
            ++current;
        if (current == kOrders)
            return std::nullopt;
        head = m_arena.pfn_of(m_free_area[current].front());
        remove_block_locked(head);
        // expand(): hand the upper halves back, keep the lower part.
        while (current > order) {
            --current;
            add_block_locked(head + (1ull << current), current);
        }
    }
    mark_allocated(head, std::size_t { 1 } << order);
    return head;
}

std::optional<Pfn> BuddyAllocator::free_block_containing_locked(Pfn pfn) const
{
    for (unsigned order = 0; order < kOrders; ++order) {
        Pfn head(pfn.get() & ~((1ull << order) - 1));
        const PageFrame& frame = m_arena.frame(head);
        if (frame.type() == PageType::Buddy && frame.order == order)
            return head;
    }
    return std::nullopt;
}

bool BuddyAllocator::alloc_range(Pfn first, std::size_t count)
{
    if (count == 0 || first.get() + count > m_arena.frame_count())
        return false;
    Pfn end = first + count;
    {
        ScopedLock guard(m_lock);
        for (Pfn pfn = first; pfn < end;) {
            auto head = free_block_containing_locked(pfn);
            if (!head)
                return false;
            pfn = *head + (1ull << m_arena.frame(*head).order);
        }
        // Every frame is free: take the blocks and give back the parts outside the range.
        for (Pfn pfn = first; pfn < end;) {
            Pfn head = *free_block_containing_locked(pfn);
            Pfn block_end = head + (1ull << m_arena.frame(head).order);
            remove_block_locked(head);
            // The leftovers are parts of one free block, so none of them can merge with
            // anything: adding them back as maximal aligned blocks is enough.
            auto give_back = [&](Pfn from, Pfn to) VM_REQUIRES(m_lock) {
                while (from < to) {
                    unsigned order = std::min<unsigned>(std::countr_zero(from.get() | (1ull << kMaxOrder)),
                        std::bit_width(to - from) - 1);
                    add_block_locked(from, order);
                    from = from + (1ull << order);
                }
            };
            give_back(head, std::max(head, first));
            give_back(std::min(block_end, end), block_end);
            pfn = block_end;
        }
    }
    mark_allocated(first, count);
    return true;
}

void BuddyAllocator::free_one_locked(Pfn pfn, unsigned order)
{
    while (order < kMaxOrder) {
        Pfn buddy(pfn.get() ^ (1ull << order));
        if (buddy.get() + (1ull << order) > m_arena.frame_count())
            break;
        const PageFrame& buddy_frame = m_arena.frame(buddy);
        if (buddy_frame.type() != PageType::Buddy || buddy_frame.order != order)
            break;
        remove_block_locked(buddy);
        pfn = Pfn(pfn.get() & buddy.get());
        ++order;
    }
    add_block_locked(pfn, order);
}

void BuddyAllocator::free_range(Pfn first, std::size_t count)
{
    for (std::size_t i = 0; i < count; ++i) {
        PageFrame& frame = m_arena.frame(first + i);
        VM_ASSERT(frame.type() != PageType::Buddy && frame.type() != PageType::Zero);
        frame.refcount.store(0, std::memory_order_relaxed);
        frame.mapcount.store(0, std::memory_order_relaxed);
        frame.set_type(PageType::None);
        frame.set_page_mapping(nullptr);
        frame.set_page_index(0);
        // Only the knowledge that the frame is still zero survives freeing, and where its bytes
        // are (the allocator moves them home, PageAllocator::alloc_contig()).
        frame.flags.fetch_and(static_cast<std::uint32_t>(PageFlag::Zeroed) | static_cast<std::uint32_t>(PageFlag::AnonHome),
            std::memory_order_relaxed);
    }
    ScopedLock guard(m_lock);
    // Free in maximal aligned pieces so that a whole block costs one merge walk.
    Pfn pfn = first;
    Pfn end = first + count;
    while (pfn < end) {
        unsigned order = std::min<unsigned>(std::countr_zero(pfn.get() | (1ull << kMaxOrder)),
            std::bit_width(end - pfn) - 1);
        free_one_locked(pfn, order);
        pfn = pfn + (1ull << order);
    }
}

std::array<std::size_t, BuddyAllocator::kOrders> BuddyAllocator::free_blocks() const
{
    ScopedLock guard(m_lock);
    std::array<std::size_t, kOrders> blocks {};
    for (unsigned order = 0; order < kOrders; ++order)
        blocks[order] = m_free_area[order].size();
    return blocks;
}

std::vector<BuddyAllocator::FreeBlock> BuddyAllocator::free_block_map() const
{
    std::vector<FreeBlock> blocks;
    {
        ScopedLock guard(m_lock);
        for (unsigned order = 0; order < kOrders; ++order) {
            for (const PageFrame& frame : m_free_area[order])
                blocks.push_back(FreeBlock { m_arena.pfn_of(frame), order });
        }
    }
    std::sort(blocks.begin(), blocks.end(), [](const FreeBlock& a, const FreeBlock& b) { return a.head < b.head; });
    return blocks;
}

void BuddyAllocator::verify_invariants() const
{
    ScopedLock guard(m_lock);
    std::size_t free_frames = 0;
    for (unsigned order = 0; order < kOrders; ++order) {
        for (const PageFrame& frame : m_free_area[order]) {
            Pfn head = m_arena.pfn_of(frame);
            VM_ASSERT(frame.type() == PageType::Buddy);
            VM_ASSERT(frame.order == order);
            VM_ASSERT((head.get() & ((1ull << order) - 1)) == 0);
            VM_ASSERT(head.get() + (1ull << order) <= m_arena.frame_count());
            VM_ASSERT(frame.refcount.load() == 0);
            for (std::uint64_t i = 1; i < (1ull << order); ++i) {
                const PageFrame& tail = m_arena.frame(head + i);
                VM_ASSERT(tail.type() != PageType::Buddy);
                VM_ASSERT(tail.refcount.load() == 0);
            }
            // A free block whose buddy is free at the same order should have been merged.
            if (order < kMaxOrder) {
                Pfn buddy(head.get() ^ (1ull << order));
                if (buddy.get() + (1ull << order) <= m_arena.frame_count()) {
                    const PageFrame& buddy_frame = m_arena.frame(buddy);
                    VM_ASSERT(!(buddy_frame.type() == PageType::Buddy && buddy_frame.order == order));
                }
            }
            free_frames += std::size_t { 1 } << order;
        }
    }
    VM_ASSERT(free_frames == m_nr_free.load());
    std::size_t allocated = 0;
    for (std::uint64_t pfn = 0; pfn < m_arena.frame_count(); ++pfn)
        allocated += m_arena.frame(Pfn(pfn)).refcount.load() > 0;
    VM_ASSERT(allocated + free_frames == m_arena.frame_count());
}

} // namespace vmemu
