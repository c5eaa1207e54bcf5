#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <liburing.h>
#include <vmemu/base/log.hpp>
#include <vmemu/os/io_ring.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu::os {

namespace {
bool io_uring_refused(int error) { return error == ENOMEM || error == EPERM || error == ENOSYS; }

void log_fallback(int error)
{
    static std::atomic<bool> logged { false };
    if (!logged.exchange(true))
        log().warn("io_uring is unavailable ({}{}): I/O runs synchronously, and swap writes no longer overlap "
                   "with reclaim",
            std::strerror(error), error == ENOMEM ? "; RLIMIT_MEMLOCK is too small for its rings" : "");
}
} // namespace

VmResult<std::unique_ptr<IoRing>> IoRing::create(unsigned entries, Backend backend)
{
    if (entries == 0)
        return vm_fail(EINVAL, "an I/O ring needs at least one entry");
    if (backend == Backend::Auto) {
        auto ring = std::make_unique<io_uring>();
        int result = io_uring_queue_init(entries, ring.get(), 0);
        if (result == 0)
            return std::unique_ptr<IoRing>(new IoRing(std::move(ring), nullptr));
        if (!io_uring_refused(-result))
            return vm_fail(-result, "io_uring_queue_init failed");
        log_fallback(-result);
    }
    return std::unique_ptr<IoRing>(new IoRing(nullptr, SyncRing::create(entries)));
}

IoRing::IoRing(std::unique_ptr<io_uring> ring, std::unique_ptr<SyncRing> sync)
    : m_ring(std::move(ring))
    , m_sync(std::move(sync))
{
}

IoRing::~IoRing()
{
    if (m_ring)
        io_uring_queue_exit(m_ring.get());
}

bool IoRing::queue_sync(SyncRing::Op op, int fd, const iovec* buffers, unsigned count, std::uint64_t offset,
    std::uint64_t user_data)
{
    return m_sync->queue(SyncRing::Request { op, fd, iovec {}, buffers, count, offset, user_data });
}

bool IoRing::queue_sync_buffer(SyncRing::Op op, int fd, const void* buffer, std::size_t bytes, std::uint64_t offset,
    std::uint64_t user_data)
{
    iovec single { const_cast<void*>(buffer), bytes };
    return m_sync->queue(SyncRing::Request { op, fd, single, nullptr, 1, offset, user_data });
}

bool IoRing::take_injection(std::atomic<unsigned>& counter)
{
    unsigned value = counter.load(std::memory_order_relaxed);
    while (value > 0 && !counter.compare_exchange_weak(value, value - 1, std::memory_order_relaxed)) { }
    return value > 0;
}

bool IoRing::queue_failure(std::uint64_t user_data, int result)
{
    {
        ScopedLock guard(m_failures_lock);
        Failure* free_entry = nullptr;
        for (Failure& failure : m_failures) {
            if (!failure.used) {
                free_entry = &failure;
                break;
            }
        }
        if (!free_entry)
            return false; // more injected failures in flight than the table holds: do the I/O
        *free_entry = Failure { user_data, result, true };
        m_pending_failures.fetch_add(1, std::memory_order_acq_rel);
    }
    while (!queue_nop(user_data))
        submit();
    return true;
}

void IoRing::inject_errors(Op op, int error, unsigned count)
{
    if (op == Op::Read) {
        m_read_error.store(error);
        m_read_errors.store(count);
    } else {
        m_write_error.store(error);
        m_write_errors.store(count);
    }
}

void IoRing::inject_short_writes(unsigned count) { m_short_writes.store(count); }

bool IoRing::queue_read(int fd, void* buffer, std::size_t bytes, std::uint64_t offset, std::uint64_t user_data)
{
    if (take_injection(m_read_errors) && queue_failure(user_data, -m_read_error.load()))
        return true;
    if (m_sync)
        return queue_sync_buffer(SyncRing::Op::Read, fd, buffer, bytes, offset, user_data);
    io_uring_sqe* sqe = io_uring_get_sqe(m_ring.get());
    if (!sqe)
        return false;
    io_uring_prep_read(sqe, fd, buffer, static_cast<unsigned>(bytes), offset);
    io_uring_sqe_set_data64(sqe, user_data);
    return true;
}

bool IoRing::queue_write(int fd, const void* buffer, std::size_t bytes, std::uint64_t offset, std::uint64_t user_data)
{
    if (take_injection(m_write_errors) && queue_failure(user_data, -m_write_error.load()))
        return true;
    if (take_injection(m_short_writes))
        bytes /= 2; // a real write of half the bytes
    if (m_sync)
        return queue_sync_buffer(SyncRing::Op::Write, fd, buffer, bytes, offset, user_data);
    io_uring_sqe* sqe = io_uring_get_sqe(m_ring.get());
    if (!sqe)
        return false;
    io_uring_prep_write(sqe, fd, buffer, static_cast<unsigned>(bytes), offset);
    io_uring_sqe_set_data64(sqe, user_data);
    return true;
}

bool IoRing::queue_readv(int fd, const iovec* buffers, unsigned count, std::uint64_t offset, std::uint64_t user_data)
{
    if (take_injection(m_read_errors) && queue_failure(user_data, -m_read_error.load()))
        return true;
    if (m_sync)
        return queue_sync(SyncRing::Op::Read, fd, buffers, count, offset, user_data);
    io_uring_sqe* sqe = io_uring_get_sqe(m_ring.get());
    if (!sqe)
        return false;
    io_uring_prep_readv(sqe, fd, buffers, count, offset);
    io_uring_sqe_set_data64(sqe, user_data);
    return true;
}

bool IoRing::queue_writev(int fd, const iovec* buffers, unsigned count, std::uint64_t offset, std::uint64_t user_data)
{
    if (take_injection(m_write_errors) && queue_failure(user_data, -m_write_error.load()))
        return true;
    // A short write transfers the first half of the request's buffers, or half of one.
    bool short_write = take_injection(m_short_writes);
    if (m_sync) {
        if (short_write && count == 1)
            return queue_sync_buffer(SyncRing::Op::Write, fd, buffers[0].iov_base, buffers[0].iov_len / 2, offset, user_data);
        return queue_sync(SyncRing::Op::Write, fd, buffers, short_write ? count / 2 : count, offset, user_data);
    }
    io_uring_sqe* sqe = io_uring_get_sqe(m_ring.get());
    if (!sqe)
        return false;
    if (short_write && count == 1)
        io_uring_prep_write(sqe, fd, buffers[0].iov_base, static_cast<unsigned>(buffers[0].iov_len / 2), offset);
    else
        io_uring_prep_writev(sqe, fd, buffers, short_write ? count / 2 : count, offset);
    io_uring_sqe_set_data64(sqe, user_data);
    return true;
}

bool IoRing::queue_nop(std::uint64_t user_data)
{
    if (m_sync)
        return queue_sync(SyncRing::Op::Nop, -1, nullptr, 0, 0, user_data);
    io_uring_sqe* sqe = io_uring_get_sqe(m_ring.get());
    if (!sqe)
        return false;
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, user_data);
    return true;
}

namespace {
// io_uring_enter() fails for a while without losing anything: EINTR, EAGAIN (no memory for
// the requests yet) and EBUSY (the completion queue is full until its reaper catches up). The
// requests stay in the submission queue, and the next submission takes them.
bool transient(int result) { return result == -EINTR || result == -EAGAIN || result == -EBUSY; }
void pause_briefly()
{
    timespec moment { 0, 50'000 };
    nanosleep(&moment, nullptr);
}
} // namespace

int IoRing::enter(unsigned wait_for)
{
    if (take_injection(m_submit_errors))
        return -m_submit_error.load();
    m_enters.fetch_add(1, std::memory_order_release);
    if (m_sync)
        return m_sync->submit(); // each request is done when it returns: nothing to wait for
    return wait_for ? io_uring_submit_and_wait(m_ring.get(), wait_for) : io_uring_submit(m_ring.get());
}

unsigned IoRing::queued() const { return m_sync ? m_sync->queued() : io_uring_sq_ready(m_ring.get()); }

int IoRing::submit()
{
    int total = 0;
    for (;;) {
        int result = enter(0);
        if (result >= 0) {
            total += result;
            if (queued() == 0)
                return total;
        } else if (!transient(result)) {
            return result;
        }
        pause_briefly();
    }
}

int IoRing::submit_and_wait(unsigned wait_for)
{
    for (;;) {
        int result = enter(wait_for);
        if (!transient(result))
            return result;
        pause_briefly();
    }
}

void IoRing::inject_submit_errors(int error, unsigned count)
{
    m_submit_error.store(error);
    m_submit_errors.store(count);
}

int IoRing::take_completions(Completion* out, unsigned max)
{
    if (m_sync)
        return m_sync->wait_completions(out, max);
    io_uring_cqe* cqe = nullptr;
    int result = io_uring_wait_cqe(m_ring.get(), &cqe);
    if (result < 0)
        return result;
    unsigned taken = 0;
    unsigned head;
    io_uring_for_each_cqe(m_ring.get(), head, cqe)
    {
        if (taken == max)
            break;
        out[taken++] = Completion { io_uring_cqe_get_data64(cqe), cqe->res };
    }
    io_uring_cq_advance(m_ring.get(), taken);
    return static_cast<int>(taken);
}

int IoRing::wait_completions(Completion* out, unsigned max)
{
    int result = take_completions(out, max);
    if (result < 0)
        return result;
    auto taken = static_cast<unsigned>(result);
    // After the last completion taken: each was submitted by an io_uring_enter that released
    // m_enters before it (the loop may take completions posted after io_uring_wait_cqe()).
    (void)m_enters.load(std::memory_order_acquire);
    if (m_pending_failures.load(std::memory_order_acquire) != 0) {
        ScopedLock guard(m_failures_lock);
        for (unsigned i = 0; i < taken; ++i) {
            for (Failure& failure : m_failures) {
                if (failure.used && failure.user_data == out[i].user_data && out[i].result == 0) {
                    out[i].result = failure.result;
                    failure.used = false;
                    m_pending_failures.fetch_sub(1, std::memory_order_acq_rel);
                    break;
                }
            }
        }
    }
    return static_cast<int>(taken);
}

} // namespace vmemu::os
