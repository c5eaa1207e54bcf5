#pragma once
// The requests of an IoRing carried out with preadv(2) and pwritev(2) by the thread that
// submits them, for a process that cannot have io_uring: the kernel charges a ring's memory to
// RLIMIT_MEMLOCK (`ulimit -l 0` refuses every ring), and kernel.io_uring_disabled or a seccomp
// filter may refuse io_uring_setup() itself.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <sys/uio.h>
#include <vmemu/base/vm_error.hpp>

namespace vmemu::os {

// What is given up: a submission returns only once its I/O is done, so a swap write no longer
// overlaps with the reclaim that queued it. Completions still reach the reaping thread as they
// do from io_uring, in submission order.
// Locking: as IoRing's. One thread at a time queues and submits (it alone touches the
// submission queue); one thread, possibly another, reaps. The completion queue is a
// single-producer, single-consumer ring: m_cq_tail is released by the submitter after it writes
// an entry, m_cq_head by the reaper after it reads one. Queueing and submitting are
// async-signal-safe.
class SyncRing {
public:
    enum class Op : std::uint8_t { Nop, Read, Write };
    struct Request {
        Op op;
        int fd;
        // One buffer (in single), or an array that need only live until the request is submitted.
        iovec single;
        const iovec* buffers;
        unsigned count;
        std::uint64_t offset;
        std::uint64_t user_data;
    };
    struct Completion {
        std::uint64_t user_data;
        int result; // bytes transferred, or -errno
    };

    // Room for entries queued requests and twice as many completions not yet reaped, as io_uring gives.
    static std::unique_ptr<SyncRing> create(unsigned entries);

    // false when the submission queue is full (submit, then queue again).
    bool queue(const Request& request);
    unsigned queued() const { return m_sq_count; }
    // Carries out the queued requests in order: the number done, or -EBUSY (nothing done) when
    // the completion queue has no room until the reaper catches up.
    int submit();
    // Blocks until at least one completion is there, then takes up to max of them.
    int wait_completions(Completion* out, unsigned max);

private:
    SyncRing(unsigned sq_entries, unsigned cq_entries);
    static int perform(const Request& request);

    std::unique_ptr<Request[]> m_sq;
    unsigned m_sq_entries;
    unsigned m_sq_count = 0;
    std::unique_ptr<Completion[]> m_cq;
    unsigned m_cq_entries;
    std::atomic<std::uint32_t> m_cq_head { 0 };
    std::atomic<std::uint32_t> m_cq_tail { 0 };
    std::atomic<std::uint32_t> m_reaper_sleeping { 0 };
};

} // namespace vmemu::os
