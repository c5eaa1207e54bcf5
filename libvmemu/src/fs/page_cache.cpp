#include <vmemu/base/assert.hpp>
#include <vmemu/fs/page_cache.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/phys/frame_arena.hpp>
#include <vmemu/reclaim/lruvec.hpp>

namespace vmemu {

PageCache::PageCache(PageTable tree, Machine& machine)
    : m_tree(std::move(tree))
    , m_machine(&machine)
    , m_arena(&machine.arena())
{
}

PageFrame* PageCache::page_of(std::uint64_t value) const
{
    return &m_arena->frame(Pfn(value >> kValueShift));
}

PageFrame* PageCache::find_get(std::uint64_t index) const
{
    if (index > kMaxIndex)
        return nullptr;
    PageTable::Entry* slot = m_tree.walk(key(index));
    if (!slot)
        return nullptr;
    for (;;) {
        std::uint64_t value = slot->load(std::memory_order_acquire);
        if (!(value & kPageTag))
            return nullptr; // empty, or a shadow
        PageFrame* page = page_of(value);
        if (!Lruvec::get_unless_zero(*page))
            continue; // being freed: the slot changes next
        // The frame may have left the cache and been reused between the load and the reference.
        if (slot->load(std::memory_order_acquire) == value)
            return page;
        m_machine->put_page(*page); // the frame's new owner may have let go meanwhile
    }
}

bool PageCache::contains(std::uint64_t index) const
{
    PageTable::Entry* slot = index <= kMaxIndex ? m_tree.walk(key(index)) : nullptr;
    return slot && (slot->load(std::memory_order_acquire) & kPageTag);
}

bool PageCache::holds(const PageFrame& page, std::uint64_t index) const
{
    PageTable::Entry* slot = index <= kMaxIndex ? m_tree.walk(key(index)) : nullptr;
    return slot && slot->load(std::memory_order_acquire) == ((m_arena->pfn_of(page).get() << kValueShift) | kPageTag);
}

PageCache::AddResult PageCache::add(PageFrame& page, void* mapping, std::uint64_t index,
    std::optional<std::uint64_t>* shadow_out)
{
    shadow_out->reset();
    VM_ASSERT(index <= kMaxIndex);
    PageTable::Entry* slot = m_tree.walk_alloc(key(index));
    if (!slot)
        return AddResult::NoMemory;
    page.set_page_mapping(mapping);
    page.set_page_index(index);
    page.refcount.fetch_add(1, std::memory_order_acq_rel); // the cache's
    std::uint64_t value = (m_arena->pfn_of(page).get() << kValueShift) | kPageTag;
    std::uint64_t seen = slot->load(std::memory_order_acquire);
    for (;;) {
        if (seen & kPageTag) {
            page.refcount.fetch_sub(1, std::memory_order_acq_rel);
            page.set_page_mapping(nullptr);
            return AddResult::Exists;
        }
        if (slot->compare_exchange_weak(seen, value, std::memory_order_acq_rel))
            break;
    }
    if (seen & kShadowTag)
        *shadow_out = seen >> kValueShift;
    m_nrpages.fetch_add(1, std::memory_order_relaxed);
    return AddResult::Added;
}

bool PageCache::remove(PageFrame& page, std::optional<std::uint64_t> shadow)
{
    PageTable::Entry* slot = m_tree.walk(key(page.page_index()));
    if (!slot)
        return false;
    std::uint64_t expected = (m_arena->pfn_of(page).get() << kValueShift) | kPageTag;
    std::uint64_t replacement = shadow ? (*shadow << kValueShift) | kShadowTag : 0;
    if (!slot->compare_exchange_strong(expected, replacement, std::memory_order_acq_rel))
        return false;
    m_nrpages.fetch_sub(1, std::memory_order_relaxed);
    return true;
}

void PageCache::clear_shadows(std::uint64_t first, std::uint64_t last)
{
    if (first > last || first > kMaxIndex)
        return;
    std::uint64_t end = std::min(last, kMaxIndex) + 1;
    m_tree.for_each_slot(key(first), key(end), [&](VirtAddr, PageTable::Entry& slot) {
        std::uint64_t value = slot.load(std::memory_order_acquire);
        if (value & kShadowTag)
            slot.compare_exchange_strong(value, 0, std::memory_order_acq_rel);
    });
}

} // namespace vmemu
