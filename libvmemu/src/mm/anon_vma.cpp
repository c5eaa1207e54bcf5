#include <new>
#include <vmemu/base/assert.hpp>
#include <vmemu/mm/anon_vma.hpp>
#include <vmemu/phys/page_frame.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

AnonVma* AnonVmaCache::alloc()
{
    ScopedLock guard(m_lock);
    if (m_free.empty()) {
        auto* fresh = new (std::nothrow) AnonVma;
        if (!fresh)
            return nullptr;
        try {
            m_all.reserve(m_all.size() + 1);
            m_free.reserve(m_all.size() + 1);
        } catch (const std::bad_alloc&) {
            delete fresh;
            return nullptr;
        }
        m_all.emplace_back(fresh);
        return fresh;
    }
    AnonVma* reused = m_free.back();
    m_free.pop_back();
    return reused;
}

void AnonVmaCache::free(AnonVma& anon_vma)
{
    ScopedLock guard(m_lock);
    // Room was reserved when it was made: pushing back cannot throw.
    m_free.push_back(&anon_vma);
}

std::size_t AnonVmaCache::in_use() const
{
    ScopedLock guard(m_lock);
    return m_all.size() - m_free.size();
}

} // namespace vmemu
