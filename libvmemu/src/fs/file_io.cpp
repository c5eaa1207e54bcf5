#include <csignal>
#include <cstring>
#include <sched.h>
#include <vmemu/base/assert.hpp>
#include <vmemu/base/thread_role.hpp>
#include <vmemu/fs/file_io.hpp>
#include <vmemu/fs/inode.hpp>
#include <vmemu/fs/writeback.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/reclaim/swap_state.hpp>
#include <vmemu/sync/scoped_lock.hpp>
#include <vmemu/trace/tracepoint.hpp>

namespace vmemu {

VmResult<std::unique_ptr<FileIo>> FileIo::create(Machine& machine)
{
    std::unique_ptr<FileIo> io(new FileIo(machine));
    io->m_requests = std::make_unique<Request[]>(kRequests);
    VM_TRY(io->start());
    return io;
}

VmResult<void> FileIo::start()
{
    m_ring = VM_TRY(os::IoRing::create(kRequests));
    m_sync_rings = VM_TRY(os::IoRingPool::create());
    m_completion_thread = start_vmemu_thread(nullptr, [this] { reap_completions(); });
    return {};
}

VmResult<void> FileIo::restart_in_child()
{
    // The inherited handle names a thread of the parent: forget it without touching it. The
    // rings are the parent's io_uring instances, which this process only closes.
    new (&m_completion_thread) std::thread();
    for (std::size_t i = 0; i < kRequests; ++i)
        m_requests[i].used.store(false, std::memory_order_relaxed);
    m_in_flight.store(0, std::memory_order_release);
    m_ring.reset();
    m_sync_rings.reset();
    return start();
}

FileIo::~FileIo()
{
    if (!m_completion_thread.joinable())
        return; // a fork child that could not start its own
    while (m_in_flight.load(std::memory_order_acquire) != 0)
        sched_yield();
    {
        ScopedLock guard(m_submit_lock);
        while (!m_ring->queue_nop(kStop))
            m_ring->submit();
        m_ring->submit();
    }
    m_completion_thread.join();
}

void FileIo::inject_failures(os::IoRing::Op op, int error, unsigned count)
{
    m_ring->inject_errors(op, error, count);
    m_sync_rings->inject_errors(op, error, count);
}

FileIo::Request* FileIo::take_request()
{
    std::size_t start = m_next_request.fetch_add(1, std::memory_order_relaxed);
    for (std::size_t i = 0; i < kRequests; ++i) {
        Request& request = m_requests[(start + i) % kRequests];
        bool expected = false;
        if (request.used.compare_exchange_strong(expected, true, std::memory_order_acquire))
            return &request;
    }
    return nullptr;
}

void FileIo::fill_buffers(Request& request)
{
    FrameArena& arena = m_machine.arena();
    for (std::uint32_t i = 0; i < request.count; ++i)
        request.buffers[i] = iovec { arena.direct_map(arena.pfn_of(*request.pages[i])), kPageSize };
}

void FileIo::submit(Request& request)
{
    std::uint64_t offset = request.index << kPageShift;
    std::uint64_t user_data = static_cast<std::uint64_t>(&request - m_requests.get());
    m_in_flight.fetch_add(1, std::memory_order_acq_rel);
    ScopedLock guard(m_submit_lock);
    for (;;) {
        bool queued;
        if (!request.write) {
            queued = m_ring->queue_readv(request.inode->io_fd(true), request.buffers.data(), request.count, offset, user_data);
        } else {
            // The partial last page goes through the buffered descriptor with its bytes only.
            std::uint64_t size = request.inode->size();
            std::size_t bytes = offset + kPageSize <= size ? kPageSize : size > offset ? size - offset : 0;
            request.write_bytes = static_cast<std::uint32_t>(bytes);
            queued = m_ring->queue_write(request.inode->io_fd(bytes == kPageSize), request.buffers[0].iov_base,
                bytes, offset, user_data);
        }
        if (queued)
            break;
        m_ring->submit();
    }
    m_ring->submit();
}

int FileIo::read_sync(Inode& inode, std::uint64_t index, PageFrame* const* pages, std::size_t count)
{
    VM_ASSERT(count >= 1 && count <= kMaxPages);
    FrameArena& arena = m_machine.arena();
    iovec buffers[kMaxPages];
    for (std::size_t i = 0; i < count; ++i)
        buffers[i] = iovec { arena.direct_map(arena.pfn_of(*pages[i])), kPageSize };
    int result = m_sync_rings->readv(inode.io_fd(true), buffers, static_cast<unsigned>(count), index << kPageShift);
    if (result == -EBUSY) {
        // Every ring of the pool is busy: the same read, as a system call.
        ssize_t done = ::preadv(inode.io_fd(true), buffers, static_cast<int>(count), static_cast<off_t>(index << kPageShift));
        result = done < 0 ? -errno : static_cast<int>(done);
    }
    end_read(inode, pages, count, result);
    return result < 0 ? result : 0;
}

void FileIo::read_async(Inode& inode, std::uint64_t index, PageFrame* const* pages, std::size_t count)
{
    VM_ASSERT(count >= 1 && count <= kMaxPages);
    Request* request = take_request();
    if (!request) {
        end_read(inode, pages, count, -EAGAIN); // no request free: readahead is only a hint
        for (std::size_t i = 0; i < count; ++i)
            m_machine.put_page(*pages[i]);
        return;
    }
    request->write = false;
    request->inode = &inode;
    request->index = index;
    request->count = static_cast<std::uint32_t>(count);
    std::copy(pages, pages + count, request->pages.begin());
    fill_buffers(*request);
    submit(*request);
}

bool FileIo::write_async(Inode& inode, PageFrame& page)
{
    Request* request = take_request();
    if (!request)
        return false;
    request->write = true;
    request->inode = &inode;
    request->index = page.page_index();
    request->count = 1;
    request->pages[0] = &page;
    fill_buffers(*request);
    submit(*request);
    return true;
}

void FileIo::end_read(Inode& inode, PageFrame* const* pages, std::size_t count, int result)
{
    FrameArena& arena = m_machine.arena();
    std::uint64_t size = inode.size();
    if (result > 0)
        m_machine.stat().add(VmStatItem::PgPgIn, (result + 1023) / 1024);
    for (std::size_t i = 0; i < count; ++i) {
        PageFrame& page = *pages[i];
        if (result < 0) {
            page.set(PageFlag::Error);
            if (result != -EAGAIN)
                m_machine.stat().inc(VmStatItem::FileReadError);
        } else {
            // What the read did not reach lies past the end of the file: zeros, as Linux
            // gives for the tail of the last page.
            std::size_t got = static_cast<std::size_t>(result) > i * kPageSize
                ? std::min<std::size_t>(kPageSize, static_cast<std::size_t>(result) - i * kPageSize)
                : 0;
            std::uint64_t offset = page.page_index() << kPageShift;
            if (offset + got > size)
                got = size > offset ? static_cast<std::size_t>(size - offset) : 0;
            if (got < kPageSize)
                arena.zero_segment(page, got, kPageSize);
            page.clear(PageFlag::Error);
            page.set(PageFlag::Uptodate);
        }
        SwapState::clear_and_wake(page, PageFlag::Locked);
    }
}

void FileIo::complete(Request& request, int result)
{
    if (!request.write) {
        end_read(*request.inode, request.pages.data(), request.count, result);
        for (std::uint32_t i = 0; i < request.count; ++i)
            m_machine.put_page(*request.pages[i]); // the I/O's reference
    } else {
        m_machine.writeback().end_write(*request.inode, *request.pages[0], result, request.write_bytes);
    }
    request.used.store(false, std::memory_order_release);
    m_in_flight.fetch_sub(1, std::memory_order_acq_rel);
}

void FileIo::reap_completions()
{
    os::IoRing::Completion completions[64];
    for (;;) {
        int count = m_ring->wait_completions(completions, 64);
        if (count < 0)
            continue; // EINTR
        for (int i = 0; i < count; ++i) {
            if (completions[i].user_data == kStop)
                return;
            complete(m_requests[completions[i].user_data], completions[i].result);
        }
    }
}

} // namespace vmemu
