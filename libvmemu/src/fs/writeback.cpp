#include <ctime>
#include <csignal>
#include <pthread.h>
#include <vmemu/address_space.hpp>
#include <vmemu/base/log.hpp>
#include <vmemu/base/thread_role.hpp>
#include <vmemu/fs/file_io.hpp>
#include <vmemu/fs/inode.hpp>
#include <vmemu/fs/inode_cache.hpp>
#include <vmemu/fs/writeback.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/futex.hpp>
#include <vmemu/reclaim/lruvec.hpp>
#include <vmemu/reclaim/swap_state.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

Writeback::Writeback(Machine& machine)
    : m_machine(machine)
{
}

Writeback::~Writeback() { stop_flusher(); }

void Writeback::start_flusher()
{
    // The first periodic pass comes one interval after the start, as the kernel's; a kick
    // made before the thread runs still wakes it.
    std::uint32_t seen = m_kicks.load(std::memory_order_acquire);
    m_thread = start_vmemu_thread("vmemu-flusher", [this, seen] { flusher(seen); });
}

void Writeback::restart_flusher_in_child()
{
    if (!m_thread.joinable())
        return;
    // The inherited handle names a thread of the parent: forget it without touching it.
    new (&m_thread) std::thread();
    m_stop.store(false, std::memory_order_release);
    start_flusher();
}

void Writeback::cancel_dirty_page(Inode& inode, PageFrame& page)
{
    page_mkclean(inode, page);
    clear_page_dirty(inode, page);
}

void Writeback::stop_flusher()
{
    if (!m_thread.joinable())
        return;
    m_stop.store(true, std::memory_order_release);
    m_kicks.fetch_add(1, std::memory_order_acq_rel);
    os::futex_wake(m_kicks, 1);
    m_thread.join();
}

std::size_t Writeback::background_thresh() const { return m_machine.frame_count() * kDirtyBackgroundRatio / 100; }
std::size_t Writeback::dirty_thresh() const { return m_machine.frame_count() * kDirtyRatio / 100; }

bool Writeback::set_page_dirty(Inode& inode, PageFrame& page)
{
    auto bit = static_cast<std::uint32_t>(PageFlag::Dirty);
    if (page.flags.fetch_or(bit, std::memory_order_acq_rel) & bit)
        return false;
    m_machine.stat().inc(VmStatItem::NrDirty);
    m_machine.stat().inc(VmStatItem::NrDirtied);
    inode.nr_dirty().fetch_add(1, std::memory_order_relaxed);
    return true;
}

bool Writeback::clear_page_dirty(Inode& inode, PageFrame& page)
{
    auto bit = static_cast<std::uint32_t>(PageFlag::Dirty);
    if (!(page.flags.fetch_and(~bit, std::memory_order_acq_rel) & bit))
        return false;
    m_machine.stat().dec(VmStatItem::NrDirty);
    inode.nr_dirty().fetch_sub(1, std::memory_order_relaxed);
    return true;
}

void Writeback::balance_dirty_pages()
{
    auto dirty = [&] { return m_machine.stat().value(VmStatItem::NrDirty); };
    if (dirty() <= static_cast<std::int64_t>(background_thresh()))
        return;
    m_kicks.fetch_add(1, std::memory_order_acq_rel);
    os::futex_wake(m_kicks, 1);
    // Past dirty_ratio the writer waits, as Linux throttles it, a bounded while.
    for (int waited = 0; waited < 100 && dirty() > static_cast<std::int64_t>(dirty_thresh()); ++waited) {
        timespec pause { 0, 1000000 };
        nanosleep(&pause, nullptr);
    }
}

bool Writeback::page_mkclean(Inode& inode, PageFrame& page)
{
    SharedLock spaces(m_machine.spaces_lock());
    SharedLock mappings(inode.i_mmap_lock());
    bool all = true;
    inode.for_each_mapping(page.page_index(), [&](AddressSpace* space, std::uint64_t vpn) {
        if (space && space->page_mkclean_one(page, vpn) == AddressSpace::MkcleanResult::Failed)
            all = false;
    });
    return all;
}

bool Writeback::write_page(Inode& inode, PageFrame& page, bool wait)
{
    // folio_lock(): a read in flight, or another writer, holds it.
    while (!page.trylock()) {
        if (!wait)
            return false;
        SwapState::wait_on_page_flag(page, PageFlag::Locked);
    }
    if (page.test(PageFlag::Writeback)) {
        if (!wait) {
            SwapState::clear_and_wake(page, PageFlag::Locked);
            return false;
        }
        SwapState::wait_on_page_flag(page, PageFlag::Writeback);
    }
    // A page the cache no longer holds (truncated meanwhile) has nothing to write.
    if (!page.test(PageFlag::Dirty) || page.page_mapping() != &inode) {
        SwapState::clear_and_wake(page, PageFlag::Locked);
        return false;
    }
    bool protected_all = page_mkclean(inode, page);
    clear_page_dirty(inode, page);
    // block_write_full_folio(): the page that straddles the end of the file is zeroed past
    // the end, in memory too, on every write: a mapping may have written there, and those
    // bytes are never the file's.
    std::uint64_t size = inode.size();
    std::uint64_t start = page.page_index() << kPageShift;
    if (start < size && size - start < kPageSize)
        m_machine.arena().zero_segment(page, size - start, kPageSize);
    // A mapping the kernel kept writable may write during the write: the page stays dirty,
    // to be written again.
    if (!protected_all)
        set_page_dirty(inode, page);
    inode.nr_writeback().fetch_add(1, std::memory_order_acq_rel);
    page.set(PageFlag::Writeback);
    m_machine.stat().inc(VmStatItem::NrWriteback);
    page.refcount.fetch_add(1, std::memory_order_acq_rel); // the I/O's
    SwapState::clear_and_wake(page, PageFlag::Locked);
    while (!m_machine.file_io().write_async(inode, page)) {
        // Every request is in flight: wait for one to end.
        timespec pause { 0, 100000 };
        nanosleep(&pause, nullptr);
    }
    return true;
}

void Writeback::writeback_range(Inode& inode, std::uint64_t first, std::uint64_t last, bool wait)
{
    // Pages are written in index order; each is held by a reference meanwhile.
    constexpr std::size_t kBatch = 64;
    PageFrame* batch[kBatch];
    for (std::uint64_t index = first; index <= last;) {
        std::size_t count = 0;
        std::uint64_t next = last + 1;
        inode.cache().for_each_page(index, last, [&](std::uint64_t at, PageFrame& page) {
            if (count == kBatch) {
                next = std::min(next, at);
                return;
            }
            if ((page.test(PageFlag::Dirty) || (wait && page.test(PageFlag::Writeback)))
                && Lruvec::get_unless_zero(page))
                batch[count++] = &page;
        });
        for (std::size_t i = 0; i < count; ++i)
            write_page(inode, *batch[i], wait);
        if (wait) {
            for (std::size_t i = 0; i < count; ++i)
                SwapState::wait_on_page_flag(*batch[i], PageFlag::Writeback);
        }
        for (std::size_t i = 0; i < count; ++i)
            m_machine.put_page(*batch[i]);
        if (next > last)
            break;
        index = next;
    }
}

void Writeback::end_write(Inode& inode, PageFrame& page, int result, std::uint32_t expected)
{
    if (result != static_cast<int>(expected)) {
        // The page stays dirty and in memory, and the error waits for msync() in wb_err.
        int error = result < 0 ? -result : EIO;
        if (!m_error_logged.exchange(true))
            log().error("writeback of a mapped file failed ({}); its pages stay dirty and msync reports it",
                result < 0 ? -result : EIO);
        m_machine.stat().inc(VmStatItem::FileWriteError);
        page.set(PageFlag::Error);
        inode.set_wb_err(error);
        set_page_dirty(inode, page);
    } else {
        page.clear(PageFlag::Error);
        m_machine.stat().add(VmStatItem::PgPgOut, (static_cast<std::int64_t>(expected) + 1023) / 1024);
        m_machine.stat().inc(VmStatItem::NrWritten);
    }
    m_machine.stat().dec(VmStatItem::NrWriteback);
    SwapState::clear_and_wake(page, PageFlag::Writeback);
    inode.nr_writeback().fetch_sub(1, std::memory_order_acq_rel);
    m_machine.put_page(page);
}

void Writeback::flusher(std::uint32_t seen)
{
    for (;;) {
        os::futex_wait_for(m_kicks, seen, kWritebackIntervalMs);
        if (m_stop.load(std::memory_order_acquire))
            break;
        seen = m_kicks.load(std::memory_order_acquire);
        SharedLock work(m_machine.file_work_lock());
        m_machine.inodes().for_each_dirty([&](Inode& inode) {
            writeback_range(inode, 0, PageCache::kMaxIndex, false);
        });
    }
}

} // namespace vmemu
