#pragma once
#include <atomic>
#include <boost/intrusive/list_hook.hpp>
#include <cstdint>

namespace vmemu {

// Linux's page flags (include/linux/page-flags.h), as bits of PageFrame::flags.
enum class PageFlag : std::uint32_t {
    Locked = 1u << 0,
    Referenced = 1u << 1,
    Uptodate = 1u << 2,
    Dirty = 1u << 3,
    Lru = 1u << 4,
    Active = 1u << 5,
    Workingset = 1u << 6,
    Slab = 1u << 7,
    Reserved = 1u << 8,
    Private = 1u << 9,
    Writeback = 1u << 10,
    Head = 1u << 11,
    SwapCache = 1u << 12,
    SwapBacked = 1u << 13,
    Unevictable = 1u << 14,
    Mlocked = 1u << 15,
    // vmemu's own: the frame's memfd page is a hole, so its contents are zero: it came fresh
    // from the memfd and has not been handed out since, or the userfaultfd view punched it when
    // it moved the bytes into the reservation (and clears the flag when it takes them back).
    // Allocating it with ZeroFill::Yes needs no memset.
    Zeroed = 1u << 16,
    Error = 1u << 17,     // PG_error: the last I/O of the page failed
    Readahead = 1u << 18, // PG_readahead: read by swap readahead, not yet faulted on
    Waiters = 1u << 19,   // PG_waiters: someone sleeps on this page's flags word
    // vmemu's own: the frame's bytes live in its slot of the anonymous direct map
    // (FrameArena::anon_slot()), where the userfaultfd view moved the page out of the
    // reservation or a swap-in read it, and its memfd page is a hole. Without it the slot is
    // empty. PG_zeroed then says whether the slot reads as zero.
    AnonHome = 1u << 20,
};

// What a frame is used for, like Linux's page_type (PageBuddy, PageTable) for frames that are
// not on an LRU.
enum class PageType : std::uint8_t {
    None,      // allocated to an owner: anonymous memory, for now
    Buddy,     // head of a free block; order says its size
    PageTable, // a page of a page table
    Zero,      // one of the shared zero frames
};

#ifdef VMEMU_VALIDATE
using PageListHook = boost::intrusive::list_member_hook<boost::intrusive::link_mode<boost::intrusive::safe_link>>;
#else
using PageListHook = boost::intrusive::list_member_hook<boost::intrusive::link_mode<boost::intrusive::normal_link>>;
#endif

// The descriptor of one physical frame, Linux's struct page.
// Invariants: the frame is on at most one list through `lru` (a buddy free list while
// type == Buddy). refcount is 0 exactly when the frame is free. mapcount counts the PTEs that
// map it. Locking: flags, refcount, mapcount and the type are atomics; `lru` and `order` belong to the
// list the frame is on (the zone lock for the buddy); mapping and index are written under the
// page_table_lock of the address space that maps the frame (or the page cache's lock).
struct PageFrame {
    PageListHook lru;
    std::atomic<std::uint32_t> flags { 0 };
    std::atomic<std::int32_t> refcount { 0 };
    std::atomic<std::int32_t> mapcount { 0 };
    std::uint8_t order { 0 };
    // Written by the frame's owner, or under the zone lock when it becomes or stops being a
    // free block; read by the buddy allocator of neighbours it does not own (whether one is a
    // free block to merge with): hence relaxed atomic, through type() and set_type().
    std::atomic<PageType> page_type { PageType::None };
    std::uint16_t unused16 { 0 };
    // Pins (FOLL_PIN, folio->_pincount): while pinned, the page stays resident and in the
    // kernel's view, so that a system call may use it; reclaim leaves it alone.
    std::atomic<std::uint32_t> pincount { 0 };
    // page->private: the swap slot of a page in the swap cache. Set and cleared by whoever
    // holds the page's cache entry; read by lockless lookups that check PG_swapcache and the
    // slot again under a reference: relaxed atomic, through page_private().
    std::atomic<std::uint64_t> private_data { 0 };
    // The anon_vma (or Inode) of the page and its index there: set under the lock of whoever
    // maps the page or adds it to the page cache, read by the reverse map without it (reclaim
    // holds a reference on the page, and looks again under the page_table_lock): relaxed
    // atomics, through page_mapping() and page_index().
    std::atomic<void*> mapping { nullptr };
    std::atomic<std::uint64_t> index { 0 };

    void* page_mapping() const { return mapping.load(std::memory_order_relaxed); }
    void set_page_mapping(void* value) { mapping.store(value, std::memory_order_relaxed); }
    std::uint64_t page_index() const { return index.load(std::memory_order_relaxed); }
    void set_page_index(std::uint64_t value) { index.store(value, std::memory_order_relaxed); }
    std::uint64_t page_private() const { return private_data.load(std::memory_order_relaxed); }
    void set_page_private(std::uint64_t value) { private_data.store(value, std::memory_order_relaxed); }
    PageType type() const { return page_type.load(std::memory_order_relaxed); }
    void set_type(PageType type) { page_type.store(type, std::memory_order_relaxed); }
    bool test(PageFlag flag) const { return flags.load(std::memory_order_acquire) & static_cast<std::uint32_t>(flag); }
    void set(PageFlag flag) { flags.fetch_or(static_cast<std::uint32_t>(flag), std::memory_order_acq_rel); }
    void clear(PageFlag flag) { flags.fetch_and(~static_cast<std::uint32_t>(flag), std::memory_order_acq_rel); }
    // folio_trylock(): takes PG_locked if nobody holds it (a read in flight holds it too).
    // The fault path only ever tries it, never waits for it while holding a lock.
    bool trylock()
    {
        auto bit = static_cast<std::uint32_t>(PageFlag::Locked);
        return !(flags.fetch_or(bit, std::memory_order_acquire) & bit);
    }
};
static_assert(sizeof(PageFrame) <= 64, "a PageFrame must fit one cache line, as struct page does");

} // namespace vmemu
