#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vmemu/address_space.hpp>
#include <vmemu/fs/inode.hpp>
#include <vmemu/fs/read_write.hpp>
#include <vmemu/fs/writeback.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/reclaim/lruvec.hpp>
#include <vmemu/reclaim/swap_state.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

namespace {
// Copies the first bytes of vector[0, count) to out.
void gather(const iovec* vector, int count, std::byte* out, std::size_t bytes)
{
    for (int i = 0; i < count && bytes > 0; ++i) {
        std::size_t take = std::min(vector[i].iov_len, bytes);
        std::memcpy(out, vector[i].iov_base, take);
        out += take;
        bytes -= take;
    }
}
} // namespace

CachedWrite::CachedWrite(Machine& machine, int fd) VM_NO_THREAD_SAFETY_ANALYSIS : m_machine(machine)
{
    // Held until the destructor, for a file vmemu maps; not for any other, whose write (to a
    // pipe, say) may block for good and must not hold off a fork().
    machine.file_work_lock().lock_shared();
    m_inode = machine.inodes().find(fd);
    if (!m_inode)
        machine.file_work_lock().unlock_shared();
}

void CachedWrite::lock_range(std::uint64_t offset, std::size_t bytes)
{
    if (!m_inode || bytes == 0)
        return;
    m_signals.emplace();
    std::uint64_t first = offset >> kPageShift;
    std::uint64_t last = std::min((offset + bytes - 1) >> kPageShift, PageCache::kMaxIndex);
    std::vector<std::uint64_t> cached;
    m_inode->cache().for_each_page(first, last, [&](std::uint64_t index, PageFrame&) { cached.push_back(index); });
    m_locked.reserve(cached.size());
    for (std::uint64_t index : cached) {
        if (PageFrame* page = lock_cached(index))
            m_locked.push_back({ index, page });
    }
}

PageFrame* CachedWrite::lock_cached(std::uint64_t index)
{
    PageFrame* page = m_inode->cache().find_get(index);
    if (!page)
        return nullptr;
    AddressSpace::lock_page(*page);
    // Truncation or reclaim may have taken it while the lock was waited for.
    if (!m_inode->cache().holds(*page, index)) {
        unlock(*page);
        return nullptr;
    }
    SwapState::wait_on_page_flag(*page, PageFlag::Writeback);
    return page;
}

void CachedWrite::unlock(PageFrame& page)
{
    SwapState::clear_and_wake(page, PageFlag::Locked);
    m_machine.put_page(page);
}

void CachedWrite::commit(const iovec* vector, int count, std::uint64_t offset, std::size_t written)
{
    if (!m_inode || written == 0)
        return;
    FrameArena& arena = m_machine.arena();
    std::uint64_t end = offset + written;
    std::uint64_t first = offset >> kPageShift;
    std::uint64_t last = std::min((end - 1) >> kPageShift, PageCache::kMaxIndex);
    // The bytes go through a copy: the buffer may be a mapping of the very pages they land in.
    std::vector<std::byte> bytes(written);
    gather(vector, count, bytes.data(), written);
    auto take_bytes = [&](std::uint64_t index, PageFrame& page) {
        std::uint64_t page_start = index << kPageShift;
        std::uint64_t from = std::max(offset, page_start);
        std::uint64_t to = std::min(end, page_start + kPageSize);
        std::byte* frame = arena.direct_map(arena.pfn_of(page));
        std::memcpy(frame + (from - page_start), bytes.data() + (from - offset), to - from);
    };
    // The pages locked before the write: an up-to-date one takes the bytes; one whose read
    // failed is read again by its next fault. They are unlocked before any other is locked,
    // so that page locks are only ever taken in index order.
    for (Locked& locked : m_locked) {
        if (locked.index >= first && locked.index <= last && locked.page->test(PageFlag::Uptodate))
            take_bytes(locked.index, *locked.page);
        unlock(*locked.page);
    }
    // The pages that came into the cache during the write, one at a time.
    auto locked = m_locked.begin();
    for (std::uint64_t index = first; index <= last; ++index) {
        while (locked != m_locked.end() && locked->index < index)
            ++locked;
        if ((locked != m_locked.end() && locked->index == index) || !m_inode->cache().contains(index))
            continue;
        if (PageFrame* page = lock_cached(index)) {
            if (page->test(PageFlag::Uptodate)) {
                take_bytes(index, *page);
                m_machine.writeback().set_page_dirty(*m_inode, *page);
            }
            unlock(*page);
        }
    }
    m_locked.clear();
    if (end > m_inode->size())
        m_inode->refresh_size();
}

CachedWrite::~CachedWrite() VM_NO_THREAD_SAFETY_ANALYSIS
{
    if (!m_inode)
        return;
    int saved = errno; // the write's, for the caller
    for (Locked& locked : m_locked)
        unlock(*locked.page);
    m_machine.inodes().put(*m_inode);
    m_machine.file_work_lock().unlock_shared();
    errno = saved;
}

int write_and_wait_cached_range(Machine& machine, int fd, std::uint64_t offset, std::uint64_t bytes)
{
    SharedLock work(machine.file_work_lock());
    Inode* inode = machine.inodes().find(fd);
    if (!inode)
        return 0;
    int error = 0;
    if (bytes > 0 && inode->has_unwritten_pages()) {
        std::atomic<std::uint32_t> since { inode->sample_wb_err() };
        std::uint64_t last = std::min((offset + bytes - 1) >> kPageShift, PageCache::kMaxIndex);
        machine.writeback().writeback_range(*inode, offset >> kPageShift, last, true);
        error = inode->check_and_advance_wb_err(since);
    }
    machine.inodes().put(*inode);
    return error;
}

void write_and_wait_all_cached(Machine& machine)
{
    SharedLock work(machine.file_work_lock());
    machine.inodes().for_each_in_use([&](Inode& inode) {
        if (inode.has_unwritten_pages())
            machine.writeback().writeback_range(inode, 0, PageCache::kMaxIndex, true);
    });
}

} // namespace vmemu
