#include <vmemu/base/assert.hpp>
#include <vmemu/reclaim/lruvec.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

bool Lruvec::get_unless_zero(PageFrame& page)
{
    std::int32_t count = page.refcount.load(std::memory_order_acquire);
    while (count > 0) {
        if (page.refcount.compare_exchange_weak(count, count + 1, std::memory_order_acq_rel))
            return true;
    }
    return false;
}

LruList Lruvec::list_of(const PageFrame& page)
{
    if (page.test(PageFlag::Unevictable))
        return LruList::Unevictable;
    bool active = page.test(PageFlag::Active);
    if (page.test(PageFlag::SwapBacked))
        return active ? LruList::ActiveAnon : LruList::InactiveAnon;
    return active ? LruList::ActiveFile : LruList::InactiveFile;
}

void Lruvec::add_locked(PageFrame& page)
{
    VM_ASSERT(!page.test(PageFlag::Lru));
    LruList list = list_of(page);
    m_lists[static_cast<unsigned>(list)].push_front(page);
    m_sizes[static_cast<unsigned>(list)].fetch_add(1, std::memory_order_relaxed);
    page.set(PageFlag::Lru);
}

void Lruvec::del_locked(PageFrame& page)
{
    LruList list = list_of(page);
    auto& pages = m_lists[static_cast<unsigned>(list)];
    pages.erase(pages.iterator_to(page));
    m_sizes[static_cast<unsigned>(list)].fetch_sub(1, std::memory_order_relaxed);
    page.clear(PageFlag::Lru);
}

void Lruvec::add(PageFrame& page)
{
    ScopedLock guard(m_lock);
    add_locked(page);
}

bool Lruvec::remove(PageFrame& page)
{
    ScopedLock guard(m_lock);
    if (!page.test(PageFlag::Lru))
        return false;
    del_locked(page);
    return true;
}

std::size_t Lruvec::isolate(LruList list, std::size_t count, PageFrame** out)
{
    ScopedLock guard(m_lock);
    auto& pages = m_lists[static_cast<unsigned>(list)];
    std::size_t taken = 0;
    auto it = pages.end();
    while (taken < count && it != pages.begin()) {
        PageFrame& page = *--it;
        // A page whose last reference is going is on its way to release_page(), which takes
        // it off the list: leave it there.
        if (!get_unless_zero(page))
            continue;
        it = pages.erase(it);
        m_sizes[static_cast<unsigned>(list)].fetch_sub(1, std::memory_order_relaxed);
        page.clear(PageFlag::Lru);
        out[taken++] = &page;
    }
    return taken;
}

bool Lruvec::isolate_page(PageFrame& page)
{
    ScopedLock guard(m_lock);
    if (!page.test(PageFlag::Lru) || page.test(PageFlag::Unevictable) || !get_unless_zero(page))
        return false;
    del_locked(page);
    return true;
}

bool Lruvec::deactivate(PageFrame& page)
{
    ScopedLock guard(m_lock);
    if (!page.test(PageFlag::Lru) || page.test(PageFlag::Unevictable))
        return false;
    bool was_active = page.test(PageFlag::Active);
    del_locked(page);
    page.clear(PageFlag::Active);
    page.clear(PageFlag::Referenced);
    add_locked(page);
    return was_active;
}

bool Lruvec::putback(PageFrame& page)
{
    ScopedLock guard(m_lock);
    if (page.refcount.fetch_sub(1, std::memory_order_acq_rel) == 1)
        return true; // the last user went while the page was isolated
    add_locked(page);
    return false;
}

void Lruvec::mark_page_accessed(PageFrame& page)
{
    ScopedLock guard(m_lock);
    if (page.test(PageFlag::Unevictable))
        return;
    if (!page.test(PageFlag::Referenced)) {
        page.set(PageFlag::Referenced);
        return;
    }
    if (!page.test(PageFlag::Active) && page.test(PageFlag::Lru)) {
        del_locked(page);
        page.set(PageFlag::Active);
        page.clear(PageFlag::Referenced);
        add_locked(page);
        age_nonresident(1);
    }
}

void Lruvec::activate(PageFrame& page)
{
    ScopedLock guard(m_lock);
    if (page.test(PageFlag::Active) || page.test(PageFlag::Unevictable))
        return;
    bool listed = page.test(PageFlag::Lru);
    if (listed)
        del_locked(page);
    page.set(PageFlag::Active);
    if (listed)
        add_locked(page);
    age_nonresident(1);
}

bool Lruvec::mlock_page(PageFrame& page)
{
    ScopedLock guard(m_lock);
    if (page.test(PageFlag::Mlocked))
        return false;
    bool listed = page.test(PageFlag::Lru);
    if (listed)
        del_locked(page);
    page.set(PageFlag::Mlocked);
    page.set(PageFlag::Unevictable);
    page.clear(PageFlag::Active);
    if (listed)
        add_locked(page);
    return true;
}

bool Lruvec::munlock_page(PageFrame& page)
{
    ScopedLock guard(m_lock);
    if (!page.test(PageFlag::Mlocked))
        return false;
    bool listed = page.test(PageFlag::Lru);
    if (listed)
        del_locked(page);
    page.clear(PageFlag::Mlocked);
    page.clear(PageFlag::Unevictable);
    if (listed)
        add_locked(page);
    return true;
}

void Lruvec::verify_invariants() const
{
    ScopedLock guard(m_lock);
    for (unsigned index = 0; index < kLists; ++index) {
        std::size_t length = 0;
        for (const PageFrame& page : m_lists[index]) {
            VM_ASSERT(page.test(PageFlag::Lru));
            VM_ASSERT(static_cast<unsigned>(list_of(page)) == index);
            VM_ASSERT(page.refcount.load() >= 1);
            ++length;
        }
        VM_ASSERT(length == m_sizes[index].load());
    }
}

} // namespace vmemu
