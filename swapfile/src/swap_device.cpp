#include <algorithm>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <unistd.h>
#include <vmemu/base/assert.hpp>
#include <vmemu/base/thread_role.hpp>
#include <vmemu/os/file.hpp>
#include <vmemu/os/futex.hpp>
#include <vmemu/swap/swap_device.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

namespace {
constexpr std::uint64_t kPage = SwapHeaderInfo::kPageSize;

std::string fd_path(int fd)
{
    char link[64];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    char target[PATH_MAX];
    ssize_t length = ::readlink(link, target, sizeof target - 1);
    return length > 0 ? std::string(target, static_cast<std::size_t>(length)) : std::string("(unknown)");
}
} // namespace

VmResult<std::unique_ptr<SwapDevice>> SwapDevice::create(const SwapDeviceConfig& config, CompletionHandler handler,
    void* context)
{
    if (config.bytes % kPage != 0 || config.bytes < 2 * kPage)
        return vm_fail(EINVAL, "swap size must be a page multiple of at least two pages");
    if (config.bytes / kPage - 1 > UINT32_MAX)
        return vm_fail(EINVAL, "swap size too large");
    if (config.label.size() > SwapHeaderInfo::kLabelBytes)
        return vm_fail(EINVAL, "swap label longer than 16 bytes");
    int fd;
    std::string directory;
    if (config.path.empty()) {
        const char* tmpdir = std::getenv("TMPDIR");
        directory = tmpdir && *tmpdir ? tmpdir : "/var/tmp";
        fd = VM_TRY(os::open_tmpfile(directory.c_str(), os::Direct::Yes));
    } else {
        fd = VM_TRY(os::open_file(config.path.c_str(), os::Direct::Yes));
        std::size_t slash = config.path.rfind('/');
        directory = slash == std::string::npos ? "." : slash == 0 ? "/" : config.path.substr(0, slash);
    }
    auto fail = [fd](VmError error) {
        ::close(fd);
        return std::unexpected(error);
    };
    // O_DIRECT wants an aligned buffer.
    std::unique_ptr<std::byte, decltype(&std::free)> page(static_cast<std::byte*>(std::aligned_alloc(kPage, kPage)), &std::free);
    if (!page)
        return fail(VmError(ENOMEM, "no memory for the swap header"));
    auto existing = os::file_size(fd);
    if (!existing)
        return fail(existing.error());
    // As swapon(8) wants mkswap first: a file with data in it is used only if it is a swap
    // area already, and never overwritten otherwise.
    if (*existing != 0) {
        bool swap_area = *existing >= kPage && os::pread_all(fd, page.get(), kPage, 0)
            && SwapHeaderInfo::decode(page.get()).has_value();
        if (!swap_area)
            return fail(VmError(EEXIST, "the swap file exists and is not a swap area (it is left as it is)"));
    }
    std::uint64_t bytes = std::max<std::uint64_t>(config.bytes, *existing / kPage * kPage);
    if (bytes / kPage - 1 > UINT32_MAX)
        return fail(VmError(EINVAL, "swap size too large"));
    if (auto allocated = os::allocate_file(fd, bytes); !allocated)
        return fail(allocated.error());

    SwapHeaderInfo header;
    header.last_page = static_cast<std::uint32_t>(bytes / kPage - 1);
    header.uuid = SwapHeaderInfo::random_uuid();
    header.label = config.label;
    if (auto encoded = header.encode(page.get()); !encoded)
        return fail(encoded.error());
    if (auto written = os::pwrite_all(fd, page.get(), kPage, 0); !written)
        return fail(written.error());
    auto ring = os::IoRing::create(config.queue_depth);
    if (!ring)
        return fail(ring.error());
    std::string path = config.path.empty() ? fd_path(fd) : config.path;
    std::unique_ptr<SwapDevice> device(new SwapDevice(fd, std::move(path), header, std::move(*ring), handler, context));
    device->m_directory = directory;
    device->m_queue_depth = config.queue_depth;
    device->m_sync_rings = VM_TRY(os::IoRingPool::create()); // on failure, the device closes the file
    return device;
}

SwapDevice::SwapDevice(int fd, std::string path, SwapHeaderInfo header, std::unique_ptr<os::IoRing> ring,
    CompletionHandler handler, void* context)
    : m_fd(fd)
    , m_path(std::move(path))
    , m_header(std::move(header))
    , m_slots(m_header.last_page)
    , m_ring(std::move(ring))
    , m_handler(handler)
    , m_context(context)
    , m_runs(new Run[kRuns])
{
    start_completion_thread();
}

void SwapDevice::start_completion_thread()
{
    m_completion_thread = start_vmemu_thread(nullptr, [this] { reap_completions(); });
}

VmResult<void> SwapDevice::reopen_in_child()
{
    VM_ASSERT(m_in_flight.load(std::memory_order_acquire) == 0);
    int fd = VM_TRY(os::open_tmpfile(m_directory.c_str(), os::Direct::Yes));
    auto fail = [fd](VmError error) {
        ::close(fd);
        return std::unexpected(error);
    };
    std::uint64_t bytes = (std::uint64_t { m_header.last_page } + 1) * kPage;
    if (auto allocated = os::allocate_file(fd, bytes); !allocated)
        return fail(allocated.error());
    constexpr std::size_t kBounceBytes = kMaxRunPages * kPage;
    std::unique_ptr<std::byte, decltype(&std::free)> bounce(
        static_cast<std::byte*>(std::aligned_alloc(kPage, kBounceBytes)), &std::free);
    if (!bounce)
        return fail(VmError(ENOMEM, "no memory to copy the swap file"));
    // The header (slot 0 is SWAP_MAP_BAD, so it counts as in use) and the slots in use.
    for (std::uint32_t first = 0; first <= m_header.last_page;) {
        if (m_slots.map_value(first) == 0) {
            ++first;
            continue;
        }
        std::uint32_t end = first + 1;
        while (end <= m_header.last_page && m_slots.map_value(end) != 0)
            ++end;
// cppcheck-suppress cppcheckError ; cppcheck 2.10 gives up on this loop ("cyclic reverse analysis")
        auto copied = os::copy_range(m_fd, fd, std::uint64_t { first } * kPage, std::uint64_t { end - first } * kPage,
            bounce.get(), kBounceBytes);
        if (!copied)
            return fail(copied.error());
        first = end;
    }
    // The inherited rings are the parent's too: this process lets go of its views of them.
    auto ring = os::IoRing::create(m_queue_depth);
    if (!ring)
        return fail(ring.error());
    m_ring = std::move(*ring);
    m_sync_rings.reset();
    auto rings = os::IoRingPool::create();
    if (!rings)
        return fail(rings.error());
    m_sync_rings = std::move(*rings);
    for (std::size_t i = 0; i < kRuns; ++i)
        m_runs[i].used.store(false, std::memory_order_relaxed);
    m_completion_waiters.store(0, std::memory_order_relaxed);
    ::close(m_fd);
    m_fd = fd;
    m_path = fd_path(fd);
    // The inherited handle names a thread of the parent: forget it without touching it.
    new (&m_completion_thread) std::thread();
    start_completion_thread();
    return {};
}

SwapDevice::~SwapDevice()
{
    while (m_in_flight.load(std::memory_order_acquire) != 0)
        wait_for_completion(m_completions.load(std::memory_order_acquire));
    {
        ScopedLock guard(m_submit_lock);
        while (!m_ring->queue_nop(kStopBit))
            m_ring->submit();
        m_ring->submit();
    }
    m_completion_thread.join();
    ::close(m_fd);
}

SwapDevice::Run* SwapDevice::take_run()
{
    for (std::size_t i = 0; i < kRuns; ++i) {
        Run& run = m_runs[(m_next_run + i) % kRuns];
        if (!run.used.load(std::memory_order_acquire)) {
            run.used.store(true, std::memory_order_relaxed);
            m_next_run = (m_next_run + i + 1) % kRuns;
            return &run;
        }
    }
    return nullptr;
}

void SwapDevice::submit(const SwapIo* requests, std::size_t count)
{
    ScopedLock guard(m_submit_lock);
    m_in_flight.fetch_add(static_cast<std::uint32_t>(count), std::memory_order_acq_rel);
    for (std::size_t i = 0; i < count;) {
        const SwapIo& io = requests[i];
        VM_ASSERT(io.slot >= 1 && io.slot <= m_header.last_page);
        VM_ASSERT(io.user_data < kRunBit);
        std::size_t pages = 1;
        while (i + pages < count && pages < kMaxRunPages && requests[i + pages].direction == io.direction
            && requests[i + pages].slot == io.slot + pages)
            ++pages;
        Run* run = pages > 1 ? take_run() : nullptr;
        if (!run)
            pages = 1;
        std::uint64_t offset = std::uint64_t { io.slot } * kPage;
        bool write = io.direction == IoDirection::Write;
        std::uint64_t user_data = io.user_data;
        if (run) {
            run->count = static_cast<std::uint32_t>(pages);
            for (std::size_t k = 0; k < pages; ++k) {
                VM_ASSERT(requests[i + k].user_data < kRunBit);
                run->user_data[k] = requests[i + k].user_data;
                run->buffers[k] = iovec { requests[i + k].page, kPage };
            }
            user_data = kRunBit | static_cast<std::uint64_t>(run - m_runs.get());
        }
        if (write)
            user_data |= kWriteBit;
        for (;;) {
            bool queued;
            if (run)
                queued = write ? m_ring->queue_writev(m_fd, run->buffers.data(), run->count, offset, user_data)
                               : m_ring->queue_readv(m_fd, run->buffers.data(), run->count, offset, user_data);
            else
                queued = write ? m_ring->queue_write(m_fd, io.page, kPage, offset, user_data)
                               : m_ring->queue_read(m_fd, io.page, kPage, offset, user_data);
            if (queued)
                break;
            m_ring->submit(); // the submission queue is full
        }
        i += pages;
    }
    m_ring->submit();
}

void SwapDevice::complete(std::uint64_t user_data, IoDirection direction, int result)
{
    if (!(user_data & kRunBit)) {
        // A short transfer is an error too: the page is not on disk (or not in memory).
        if (result >= 0 && static_cast<std::uint64_t>(result) != kPage)
            result = -EIO;
        m_handler(m_context, user_data, direction, result);
        m_in_flight.fetch_sub(1, std::memory_order_seq_cst);
        m_completions.fetch_add(1, std::memory_order_seq_cst);
        return;
    }
    Run& run = m_runs[user_data & ~kRunBit];
    std::uint32_t pages = run.count;
    // The pages a short transfer reached are done; the others failed.
    std::uint64_t done = result < 0 ? 0 : static_cast<std::uint64_t>(result) / kPage;
    int failure = result < 0 ? result : -EIO;
    std::array<std::uint64_t, kMaxRunPages> handed;
    std::copy_n(run.user_data.begin(), pages, handed.begin());
    run.used.store(false, std::memory_order_release);
    for (std::uint32_t k = 0; k < pages; ++k)
        m_handler(m_context, handed[k], direction, k < done ? static_cast<int>(kPage) : failure);
    m_in_flight.fetch_sub(pages, std::memory_order_seq_cst);
    m_completions.fetch_add(pages, std::memory_order_seq_cst);
}

void SwapDevice::reap_completions()
{
    os::IoRing::Completion completions[64];
    bool stopping = false;
    while (!stopping || m_in_flight.load(std::memory_order_acquire) != 0) {
        int count = m_ring->wait_completions(completions, 64);
        if (count < 0)
            continue; // EINTR
        for (int i = 0; i < count; ++i) {
            std::uint64_t user_data = completions[i].user_data;
            if (user_data & kStopBit) {
                stopping = true;
                continue;
            }
            IoDirection direction = (user_data & kWriteBit) ? IoDirection::Write : IoDirection::Read;
            complete(user_data & ~kWriteBit, direction, completions[i].result);
        }
        // One wake-up for the batch, and none when nobody waits.
        if (count > 0 && m_completion_waiters.load(std::memory_order_seq_cst) != 0)
            os::futex_wake(m_completions, INT32_MAX);
    }
}

int SwapDevice::read_now(std::uint32_t slot, std::byte* page)
{
    VM_ASSERT(slot >= 1 && slot <= m_header.last_page);
    iovec buffer { page, kPage };
    int result = m_sync_rings->readv(m_fd, &buffer, 1, std::uint64_t { slot } * kPage);
    // A short read is an error too.
    return result >= 0 && static_cast<std::uint64_t>(result) != kPage ? -EIO : result;
}

void SwapDevice::wait_for_completion(std::uint32_t seen) const
{
    m_completion_waiters.fetch_add(1, std::memory_order_seq_cst);
    os::futex_wait(m_completions, seen);
    m_completion_waiters.fetch_sub(1, std::memory_order_seq_cst);
}

void SwapDevice::inject_failures(IoDirection direction, int error, unsigned count)
{
    auto op = direction == IoDirection::Write ? os::IoRing::Op::Write : os::IoRing::Op::Read;
    m_ring->inject_errors(op, error, count);
    m_sync_rings->inject_errors(op, error, count);
}

void SwapDevice::inject_short_writes(unsigned count) { m_ring->inject_short_writes(count); }

void SwapDevice::inject_submit_errors(int error, unsigned count)
{
    m_ring->inject_submit_errors(error, count);
    m_sync_rings->inject_submit_errors(error, count);
}

const char* SwapDevice::swaps_heading() { return "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"; }

std::string SwapDevice::swaps_line() const
{
    // swap_show() of mm/swapfile.c.
    unsigned long size_kb = static_cast<unsigned long>(m_header.last_page) * (kPage / 1024);
    unsigned long used_kb = static_cast<unsigned long>(m_slots.total_slots() - m_slots.nr_free()) * (kPage / 1024);
    std::size_t length = m_path.size();
    char line[512];
    std::snprintf(line, sizeof line, "%s%*s%s\t%lu\t%s%lu\t%s%d\n", m_path.c_str(),
        static_cast<int>(length < 40 ? 40 - length : 1), " ", "file\t", size_kb, size_kb < 10000000 ? "\t" : "", used_kb,
        used_kb < 10000000 ? "\t" : "", -2);
    return line;
}

} // namespace vmemu
