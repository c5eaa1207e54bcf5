#pragma once
#include <array>
#include <atomic>
#include <boost/intrusive/list.hpp>
#include <cstddef>
#include <vmemu/base/thread_annotations.hpp>
#include <vmemu/phys/frame_arena.hpp>
#include <vmemu/sync/spinlock.hpp>

namespace vmemu {

// Linux's LRU lists (enum lru_list).
enum class LruList : std::uint8_t { InactiveAnon, ActiveAnon, InactiveFile, ActiveFile, Unevictable, Count };

// The lruvec of mm/vmscan.c: the pages that reclaim may take, on five lists, newest at the
// head. Which list a page is on follows from its flags (PG_active, PG_unevictable,
// PG_swapbacked); PG_lru says it is on one.
// Invariants: a page is on a list exactly when PG_lru is set; each list's size is its length.
// The lists hold no reference: a page's last put removes it from its list before freeing.
// Isolation takes the page off its list and takes a reference.
// Locking: m_lock (lru_lock), a spinlock; it nests inside the page_table_lock.
class Lruvec {
public:
    static constexpr unsigned kLists = static_cast<unsigned>(LruList::Count);

    Lruvec() = default;
    Lruvec(const Lruvec&) = delete;
    Lruvec& operator=(const Lruvec&) = delete;

    static LruList list_of(const PageFrame& page);
    // A reference, unless the count is already 0 (the page is being freed).
    static bool get_unless_zero(PageFrame& page);
    // lru_cache_add(): puts page at the head of the list its flags name.
    void add(PageFrame& page) VM_EXCLUDES(m_lock);
    // Takes page off its list if it is on one (before it is freed). True if it was.
    bool remove(PageFrame& page) VM_EXCLUDES(m_lock);
    // isolate_lru_folios(): takes up to count pages from the tail of list, each with a
    // reference. Returns how many it wrote to out.
    std::size_t isolate(LruList list, std::size_t count, PageFrame** out) VM_EXCLUDES(m_lock);
    // Takes page off its list with a reference, if it is on one (folio_isolate_lru()).
    bool isolate_page(PageFrame& page) VM_EXCLUDES(m_lock);
    // deactivate: to the inactive list, unreferenced (MADV_COLD).
    bool deactivate(PageFrame& page) VM_EXCLUDES(m_lock);
    // Puts an isolated page back on the list its flags name, and drops the isolation reference.
    // Returns true if that was the last reference: the caller frees the page.
    bool putback(PageFrame& page) VM_EXCLUDES(m_lock);
    // mark_page_accessed(): inactive,unreferenced -> inactive,referenced -> active.
    void mark_page_accessed(PageFrame& page) VM_EXCLUDES(m_lock);
    // Moves a page on an inactive list to the active one (the refault of a recent eviction).
    void activate(PageFrame& page) VM_EXCLUDES(m_lock);
    // mlock_folio() and munlock_folio(): to the unevictable list with PG_mlocked, or back to
    // the inactive list. A page that reclaim has isolated only changes flags; putback() then
    // puts it where they say. Returns true if the page's state changed.
    bool mlock_page(PageFrame& page) VM_EXCLUDES(m_lock);
    bool munlock_page(PageFrame& page) VM_EXCLUDES(m_lock);

    std::size_t size(LruList list) const { return m_sizes[static_cast<unsigned>(list)].load(std::memory_order_relaxed); }
    // lruvec->nonresident_age: evictions and activations, the clock of the workingset code.
    std::uint64_t nonresident_age() const { return m_nonresident_age.load(std::memory_order_relaxed); }
    void age_nonresident(std::uint64_t pages) { m_nonresident_age.fetch_add(pages, std::memory_order_relaxed); }

    // fork(2): held from before fork() until after it, so that the child inherits no change
    // half made (Machine::prepare_fork()).
    void lock_for_fork() VM_ACQUIRE(m_lock) { m_lock.lock(); }
    void unlock_after_fork() VM_RELEASE(m_lock) { m_lock.unlock(); }
    void verify_invariants() const VM_EXCLUDES(m_lock);

private:
    using PageList = boost::intrusive::list<PageFrame,
        boost::intrusive::member_hook<PageFrame, PageListHook, &PageFrame::lru>,
        boost::intrusive::constant_time_size<false>>;

    void add_locked(PageFrame& page) VM_REQUIRES(m_lock);
    void del_locked(PageFrame& page) VM_REQUIRES(m_lock);

    mutable Spinlock m_lock;
    std::array<PageList, kLists> m_lists VM_GUARDED_BY(m_lock);
    std::array<std::atomic<std::size_t>, kLists> m_sizes {};
    std::atomic<std::uint64_t> m_nonresident_age { 0 };
};

} // namespace vmemu
