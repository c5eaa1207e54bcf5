#pragma once
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <sys/uio.h>
#include <thread>
#include <vmemu/base/thread_annotations.hpp>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/os/io_ring.hpp>
#include <vmemu/os/io_ring_pool.hpp>
#include <vmemu/swap/swap_header.hpp>
#include <vmemu/swap/swap_slots.hpp>
#include <vmemu/sync/mutex.hpp>

namespace vmemu {

enum class IoDirection : std::uint8_t { Read, Write };

// One page of swap I/O: slot on disk, page in memory (4 KiB-aligned, for O_DIRECT).
struct SwapIo {
    std::uint32_t slot;
    std::byte* page;
    std::uint64_t user_data; // below 2^61; handed back with the result
    IoDirection direction;
};

struct SwapDeviceConfig {
    // The swap file; empty means a private unnamed file (O_TMPFILE, mode 0600) in $TMPDIR, or
    // /var/tmp. An existing swap area is reused, at its size when that is larger than bytes;
    // an existing file with other data is refused.
    std::string path;
    std::uint64_t bytes { std::uint64_t { 64 } << 20 };
    std::string label { "vmemu" };
    unsigned queue_depth { 256 };
};

// A swap area in a file: the Linux swap header, the slot allocator, and page I/O through
// io_uring with O_DIRECT, so that swapped-out pages really leave memory. A completion thread
// reaps the results and hands each to the owner's handler, in that thread.
// Invariants: the file is at least two pages; slot n is the file's page n.
// Locking: m_submit_lock serializes submissions (it is a futex mutex, so faults may submit
// swap-in reads from a signal handler); completions are reaped by the one thread.
class SwapDevice {
public:
    using CompletionHandler = void (*)(void* context, std::uint64_t user_data, IoDirection direction, int result);

    // EINVAL when the file is too small for a header and one slot or not a page multiple;
    // EEXIST when the path names a file with data in it that is not a swap area (it is left
    // alone); the errors of open, fallocate and io_uring otherwise.
    static VmResult<std::unique_ptr<SwapDevice>> create(const SwapDeviceConfig& config, CompletionHandler handler,
        void* context);
    // Waits for the I/O in flight, then stops the completion thread.
    ~SwapDevice();
    SwapDevice(const SwapDevice&) = delete;
    SwapDevice& operator=(const SwapDevice&) = delete;

    // Submits the requests, in one io_uring_submit when the queue can hold them. Requests for
    // consecutive slots in the same direction that follow each other in the array become one
    // vectored request of up to kMaxRunPages pages, as the block layer merges bios: a reclaim
    // batch written to one cluster is one write. Each page still gets its own completion
    // (a short transfer fails the pages it did not reach). Async-signal-safe.
    void submit(const SwapIo* requests, std::size_t count) VM_EXCLUDES(m_submit_lock);
    static constexpr std::size_t kMaxRunPages = 64;
    // Reads slot into page and waits for it in the calling thread, on a ring of its own from a
    // small pool, so that a swap fault does not wait for the completion thread to wake it.
    // Returns the bytes read or -errno; -EBUSY when every ring of the pool is busy (the caller
    // then goes through submit()). Async-signal-safe.
    int read_now(std::uint32_t slot, std::byte* page);

    SwapSlots& slots() { return m_slots; }
    const SwapSlots& slots() const { return m_slots; }
    const SwapHeaderInfo& header() const { return m_header; }
    std::uint32_t in_flight() const { return m_in_flight.load(std::memory_order_acquire); }
    // Completions so far. A thread that saw in_flight() > 0 after reading this may sleep in
    // wait_for_completion(seen): the count moves after in_flight() does.
    std::uint32_t completions() const { return m_completions.load(std::memory_order_acquire); }
    void wait_for_completion(std::uint32_t seen) const;
    // The file's line of /proc/swaps (after its heading), and the heading.
    std::string swaps_line() const;
    static const char* swaps_heading();

    // fork(2): hold the submission lock from before fork() until after it, so that the child
    // inherits no submission half done. The caller has waited for in_flight() to reach 0.
    void lock_for_fork() VM_ACQUIRE(m_submit_lock) { m_submit_lock.lock(); }
    void unlock_after_fork() VM_RELEASE(m_submit_lock) { m_submit_lock.unlock(); }
    // In a child of fork(), which shares the parent's swap file and io_uring instances and has
    // no completion thread: the device gets a private file of its own (in the directory the
    // parent's is in), holding a copy of the header and of every slot in use, new rings and a
    // completion thread. The parent must not write to its file until this returns. On
    // failure the device is unusable.
    VmResult<void> reopen_in_child();

    // Fault injection for tests, through the os/ layer's io_uring: the next count requests in
    // direction fail with -error without reaching the file, or write half a page.
    void inject_failures(IoDirection direction, int error, unsigned count);
    void inject_short_writes(unsigned count);
    // The next count submissions to the kernel fail with -error (EAGAIN, EBUSY: waited out).
    void inject_submit_errors(int error, unsigned count);

private:
    SwapDevice(int fd, std::string path, SwapHeaderInfo header, std::unique_ptr<os::IoRing> ring,
        CompletionHandler handler, void* context);
    void start_completion_thread();
    // A vectored request's pages, from submission to completion.
    struct Run {
        std::atomic<bool> used { false };
        std::uint32_t count { 0 };
        std::array<std::uint64_t, kMaxRunPages> user_data {};
        std::array<iovec, kMaxRunPages> buffers {};
    };
    static constexpr std::size_t kRuns = 64;

    void reap_completions();
    // A free Run, or nullptr when all are in flight. Under m_submit_lock.
    Run* take_run() VM_REQUIRES(m_submit_lock);
    void complete(std::uint64_t user_data, IoDirection direction, int result);

    static constexpr std::uint64_t kWriteBit = std::uint64_t { 1 } << 63;
    static constexpr std::uint64_t kStopBit = std::uint64_t { 1 } << 62;
    static constexpr std::uint64_t kRunBit = std::uint64_t { 1 } << 61;

    int m_fd;
    std::string m_path;
    // Where a child of fork() creates its private copy of the file.
    std::string m_directory;
    unsigned m_queue_depth { 0 };
    SwapHeaderInfo m_header;
    SwapSlots m_slots;
    std::unique_ptr<os::IoRing> m_ring;
    std::unique_ptr<os::IoRingPool> m_sync_rings;
    CompletionHandler m_handler;
    void* m_context;
    Mutex m_submit_lock;
    std::unique_ptr<Run[]> m_runs;
    std::size_t m_next_run VM_GUARDED_BY(m_submit_lock) { 0 };
    std::atomic<std::uint32_t> m_in_flight { 0 };
    mutable std::atomic<std::uint32_t> m_completions { 0 };
    mutable std::atomic<std::uint32_t> m_completion_waiters { 0 };
    std::thread m_completion_thread;
};

} // namespace vmemu
