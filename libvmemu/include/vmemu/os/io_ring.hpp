#pragma once
// io_uring, through liburing: the only place vmemu submits asynchronous I/O. Where the process
// cannot have io_uring, the same requests are carried out synchronously (os/sync_ring.hpp).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <array>
#include <atomic>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/os/sync_ring.hpp>
#include <vmemu/sync/spinlock.hpp>

struct io_uring;
struct iovec;

namespace vmemu::os {

// One io_uring instance. Not synchronized: one thread at a time may queue and submit, and one
// (possibly other) thread may reap completions, as io_uring allows. Queueing and submitting
// are async-signal-safe (no allocation; io_uring_enter is a system call).
class IoRing {
public:
    using Completion = SyncRing::Completion; // user_data, and bytes transferred or -errno

    enum class Backend : std::uint8_t {
        // io_uring, or the synchronous ring when io_uring_setup() fails for want of locked
        // memory (ENOMEM), permission (EPERM) or support (ENOSYS); the first fallback in a
        // process logs one line saying so.
        Auto,
        Sync, // always the synchronous ring
    };
    static VmResult<std::unique_ptr<IoRing>> create(unsigned entries, Backend backend = Backend::Auto);
    ~IoRing();
    IoRing(const IoRing&) = delete;
    IoRing& operator=(const IoRing&) = delete;

    // Whether requests go through io_uring (false: the synchronous ring).
    bool is_io_uring() const { return m_ring != nullptr; }

    // Queue one request; false when the submission queue is full (submit, then queue again).
    bool queue_read(int fd, void* buffer, std::size_t bytes, std::uint64_t offset, std::uint64_t user_data);
    bool queue_write(int fd, const void* buffer, std::size_t bytes, std::uint64_t offset, std::uint64_t user_data);
    // Vectored requests (IORING_OP_READV / WRITEV): one request for the buffers, which the
    // file sees as one contiguous range from offset. The iovec array need only live until the
    // request is submitted (IORING_FEAT_SUBMIT_STABLE).
    bool queue_readv(int fd, const iovec* buffers, unsigned count, std::uint64_t offset, std::uint64_t user_data);
    bool queue_writev(int fd, const iovec* buffers, unsigned count, std::uint64_t offset, std::uint64_t user_data);
    bool queue_nop(std::uint64_t user_data);
    // io_uring_submit() until every queued request is in: the number submitted, or -errno
    // for an error that waiting does not cure. Transient failures (EINTR, EAGAIN, EBUSY)
    // are waited out: the requests stay queued, and a later io_uring_enter takes them.
    int submit();
    // Submits, and waits for at least wait_for completions, in one io_uring_enter; transient
    // failures as submit().
    int submit_and_wait(unsigned wait_for);
    // Blocks until at least one completion is there, then takes up to max of them.
    // The count taken, or -errno (EINTR included).
    int wait_completions(Completion* out, unsigned max);

    // Fault injection, for tests: the next count reads (or writes) never reach the file and
    // complete with -error, as from a failing disk; the next count writes with short_writes
    // transfer half their bytes.
    enum class Op : std::uint8_t { Read, Write };
    void inject_errors(Op op, int error, unsigned count);
    void inject_short_writes(unsigned count);
    // The next count io_uring_enter calls fail with -error before they reach the kernel.
    void inject_submit_errors(int error, unsigned count);

private:
    IoRing(std::unique_ptr<io_uring> ring, std::unique_ptr<SyncRing> sync);
    // A request that fails by injection: queued as a NOP whose completion takes this result.
    bool queue_failure(std::uint64_t user_data, int result);
    bool take_injection(std::atomic<unsigned>& counter);
    // A request for the synchronous ring: of an iovec array, or of one buffer.
    bool queue_sync(SyncRing::Op op, int fd, const iovec* buffers, unsigned count, std::uint64_t offset,
        std::uint64_t user_data);
    bool queue_sync_buffer(SyncRing::Op op, int fd, const void* buffer, std::size_t bytes, std::uint64_t offset,
        std::uint64_t user_data);
    unsigned queued() const;
    int take_completions(Completion* out, unsigned max);
    // One io_uring_enter (or an injected failure).
    int enter(unsigned wait_for);

    std::unique_ptr<io_uring> m_ring; // null when m_sync does the I/O
    std::unique_ptr<SyncRing> m_sync;
    // Released by each io_uring_enter, acquired by each reap: the edge, which the kernel's ring
    // gives and ThreadSanitizer cannot see, from what a submitter wrote before a request to
    // what the thread handling its completion reads.
    std::atomic<std::uint64_t> m_enters { 0 };
    std::atomic<unsigned> m_read_errors { 0 };
    std::atomic<unsigned> m_write_errors { 0 };
    std::atomic<int> m_read_error { 0 };
    std::atomic<int> m_write_error { 0 };
    std::atomic<unsigned> m_short_writes { 0 };
    std::atomic<unsigned> m_submit_errors { 0 };
    std::atomic<int> m_submit_error { 0 };
    struct Failure {
        std::uint64_t user_data;
        int result;
        bool used;
    };
    Spinlock m_failures_lock;
    std::array<Failure, 256> m_failures {};
    std::atomic<unsigned> m_pending_failures { 0 };
};

} // namespace vmemu::os
