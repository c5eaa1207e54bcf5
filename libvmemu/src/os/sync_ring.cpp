#include <cerrno>
#include <unistd.h>
#include <vmemu/os/futex.hpp>
#include <vmemu/os/sync_ring.hpp>

namespace vmemu::os {

std::unique_ptr<SyncRing> SyncRing::create(unsigned entries)
{
    return std::unique_ptr<SyncRing>(new SyncRing(entries, 2 * entries));
}

SyncRing::SyncRing(unsigned sq_entries, unsigned cq_entries)
    : m_sq(std::make_unique<Request[]>(sq_entries))
    , m_sq_entries(sq_entries)
    , m_cq(std::make_unique<Completion[]>(cq_entries))
    , m_cq_entries(cq_entries)
{
}

bool SyncRing::queue(const Request& request)
{
    if (m_sq_count == m_sq_entries)
        return false;
    m_sq[m_sq_count++] = request;
    return true;
}

int SyncRing::perform(const Request& request)
{
    if (request.op == Op::Nop)
        return 0;
    const iovec* buffers = request.buffers ? request.buffers : &request.single;
    int count = static_cast<int>(request.buffers ? request.count : 1);
    auto offset = static_cast<off_t>(request.offset);
    for (;;) {
        ssize_t done = request.op == Op::Read ? ::preadv(request.fd, buffers, count, offset)
                                              : ::pwritev(request.fd, buffers, count, offset);
        if (done >= 0)
            return static_cast<int>(done);
        if (errno != EINTR)
            return -errno;
    }
}

int SyncRing::submit()
{
    int saved_errno = errno;
    std::uint32_t tail = m_cq_tail.load(std::memory_order_relaxed);
    if (m_cq_entries - (tail - m_cq_head.load(std::memory_order_acquire)) < m_sq_count)
        return -EBUSY;
    for (unsigned i = 0; i < m_sq_count; ++i) {
        m_cq[(tail + i) % m_cq_entries] = Completion { m_sq[i].user_data, perform(m_sq[i]) };
        m_cq_tail.store(tail + i + 1, std::memory_order_release);
    }
    int done = static_cast<int>(m_sq_count);
    m_sq_count = 0;
    // Against wait_completions(): either it sees the new tail, or this sees it asleep.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (done > 0 && m_reaper_sleeping.load(std::memory_order_seq_cst))
        futex_wake(m_cq_tail, 1);
    errno = saved_errno;
    return done;
}

int SyncRing::wait_completions(Completion* out, unsigned max)
{
    std::uint32_t head = m_cq_head.load(std::memory_order_relaxed);
    std::uint32_t tail = m_cq_tail.load(std::memory_order_acquire);
    while (tail == head) {
        m_reaper_sleeping.store(1, std::memory_order_seq_cst);
        tail = m_cq_tail.load(std::memory_order_seq_cst);
        if (tail == head)
            futex_wait(m_cq_tail, tail);
        m_reaper_sleeping.store(0, std::memory_order_relaxed);
        tail = m_cq_tail.load(std::memory_order_acquire);
    }
    unsigned taken = 0;
    for (; taken < max && head + taken != tail; ++taken)
        out[taken] = m_cq[(head + taken) % m_cq_entries];
    m_cq_head.store(head + taken, std::memory_order_release);
    return static_cast<int>(taken);
}

} // namespace vmemu::os
