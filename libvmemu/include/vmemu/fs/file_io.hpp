#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <sys/uio.h>
#include <thread>
#include <vmemu/base/thread_annotations.hpp>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/os/io_ring.hpp>
#include <vmemu/os/io_ring_pool.hpp>
#include <vmemu/sync/mutex.hpp>

namespace vmemu {

class Inode;
class Machine;
struct PageFrame;

// The block I/O of file pages (the part of a file system's address_space_operations that
// vmemu needs: read_folio, readahead, writepage), through io_uring.
// - A read fills pages that are in the page cache, locked, not yet uptodate; its end sets
//   PG_uptodate (zeroing what lies past the end of the file) or PG_error, clears PG_locked and
//   wakes the waiters. A fault's own read is submitted and waited for on a ring of a small
//   pool, in the faulting thread; readahead goes to the shared ring and ends in the
//   completion thread.
// - A write sends one page that has PG_writeback; its end goes to Writeback::end_write().
//   Whole pages go through the file's O_DIRECT descriptor, the partial last page through the
//   buffered one, so that the file never grows.
// Locking: m_submit_lock serializes the shared ring's submissions (a futex mutex: faults submit
// readahead from a signal handler); the completion thread alone reaps it.
class FileIo {
public:
    static constexpr std::size_t kMaxPages = 64; // pages in one request

    static VmResult<std::unique_ptr<FileIo>> create(Machine& machine);
    // Waits for the I/O in flight, then stops the completion thread.
    ~FileIo();
    FileIo(const FileIo&) = delete;
    FileIo& operator=(const FileIo&) = delete;

    // Reads count pages (file pages index, index + 1, ...) and waits; ends every page as
    // above. Returns 0 or -errno. Async-signal-safe.
    int read_sync(Inode& inode, std::uint64_t index, PageFrame* const* pages, std::size_t count);
    // Starts the read of count pages without waiting (readahead). Each holds a reference for
    // the I/O, which its end drops. Async-signal-safe.
    void read_async(Inode& inode, std::uint64_t index, PageFrame* const* pages, std::size_t count);
    // Starts the write of page (PG_writeback set, a reference held for the I/O). False, doing
    // nothing, when every request is in flight.
    bool write_async(Inode& inode, PageFrame& page);

    std::uint32_t in_flight() const { return m_in_flight.load(std::memory_order_acquire); }

    // fork(2): no request is submitted across it (the submission lock is held), and the child
    // gets rings and a completion thread of its own. The parent's requests in flight end in
    // the parent alone: the child sets their pages right (Machine::adopt_files_in_child()).
    void lock_for_fork() VM_ACQUIRE(m_submit_lock) { m_submit_lock.lock(); }
    void unlock_after_fork() VM_RELEASE(m_submit_lock) { m_submit_lock.unlock(); }
    VmResult<void> restart_in_child();

    // Fault injection for tests: the next count reads or writes fail with -error.
    void inject_failures(os::IoRing::Op op, int error, unsigned count);

private:
    explicit FileIo(Machine& machine)
        : m_machine(machine)
    {
    }
    struct Request {
        std::atomic<bool> used { false };
        bool write { false };
        Inode* inode { nullptr };
        std::uint64_t index { 0 };
        std::uint32_t count { 0 };
        std::uint32_t write_bytes { 0 }; // what a write submitted: a page, or the file's tail
        std::array<PageFrame*, kMaxPages> pages {};
        std::array<iovec, kMaxPages> buffers {};
    };
    static constexpr std::size_t kRequests = 256;
    static constexpr std::uint64_t kStop = ~std::uint64_t { 0 };

    // A free request, or nullptr when all are in flight.
    Request* take_request();
    void submit(Request& request) VM_EXCLUDES(m_submit_lock);
    // The rings and the completion thread.
    VmResult<void> start();
    void reap_completions();
    void complete(Request& request, int result);
    // Ends count read pages: bytes of them were read (or -errno).
    void end_read(Inode& inode, PageFrame* const* pages, std::size_t count, int result);
    void fill_buffers(Request& request);

    Machine& m_machine;
    std::unique_ptr<os::IoRing> m_ring;
    std::unique_ptr<os::IoRingPool> m_sync_rings;
    Mutex m_submit_lock;
    std::unique_ptr<Request[]> m_requests;
    std::atomic<std::size_t> m_next_request { 0 };
    std::atomic<std::uint32_t> m_in_flight { 0 };
    std::thread m_completion_thread;
};

} // namespace vmemu
