#include <cstdio>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <vmemu/base/assert.hpp>
#include <vmemu/base/log.hpp>
#include <vmemu/fs/inode.hpp>
#include <vmemu/fs/writeback.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/reclaim/lruvec.hpp>
#include <vmemu/reclaim/swap_state.hpp>
#include <vmemu/trace/tracepoint.hpp>

namespace vmemu {

namespace {
// errseq_t: the errno in the low bits, a flag saying somebody saw it, and a counter above.
constexpr std::uint32_t kErrnoMask = 0xfff;
constexpr std::uint32_t kSeen = 1u << 12;
constexpr std::uint32_t kCounterOne = 1u << 13;
} // namespace

Inode::Inode(Machine& machine, PageTable tree)
    : m_machine(machine)
    , m_cache(std::move(tree), machine)
{
}

Inode::~Inode() { VM_ASSERT(m_fd < 0 && m_cache.nrpages() == 0); }

VmResult<void> Inode::open(int fd, dev_t dev, ino_t ino, std::uint64_t size, bool writable)
{
    int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0)
        return vm_fail(errno, "mmap: cannot duplicate the file descriptor");
    // vmemu is the file's page cache: its reads and writes of whole pages bypass the kernel's
    // where the file system allows O_DIRECT.
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", own);
    int direct = ::open(path, (writable ? O_RDWR : O_RDONLY) | O_DIRECT | O_CLOEXEC);
    if (m_fd >= 0) {
        // A mapping that may write arrived for a file opened read-only so far: the new
        // descriptors replace the old ones, which stay open until release (I/O may use them).
        VM_ASSERT(m_retired_count + 2 <= m_retired.size());
        m_retired[m_retired_count++] = m_fd;
        if (m_direct_fd >= 0)
            m_retired[m_retired_count++] = m_direct_fd;
    }
    m_direct_fd = direct;
    m_fd = own;
    m_dev = dev;
    m_ino = ino;
    m_writable = writable;
    set_size(size);
    if (m_retired_count == 0) {
        m_wb_err.store(0, std::memory_order_relaxed);
        m_nr_dirty.store(0, std::memory_order_relaxed);
        m_mmap_miss.store(0, std::memory_order_relaxed);
        set_readahead(Readahead { 0, 0, 0 });
    }
    return {};
}

void Inode::release()
{
    Writeback& writeback = m_machine.writeback();
    writeback.writeback_range(*this, 0, PageCache::kMaxIndex, true);
    // No mapping is left, so every page leaves.
    if (std::size_t lost = truncate_pages(0).dirty)
        log().error("{} dirty pages of a mapped file (device {}:{}, inode {}) could not be written back", lost,
            major(m_dev), minor(m_dev), m_ino);
    ::close(m_fd);
    if (m_direct_fd >= 0)
        ::close(m_direct_fd);
    for (std::size_t i = 0; i < m_retired_count; ++i)
        ::close(m_retired[i]);
    m_retired_count = 0;
    m_fd = m_direct_fd = -1;
}

void Inode::delete_from_page_cache(PageFrame& page, std::optional<std::uint64_t> shadow)
{
    // __filemap_remove_folio(): the caller holds the page's references frozen.
    trace::emit(trace::Event::FilemapDeleteFromPageCache, m_machine.arena().pfn_of(page).get(), page.page_index(),
        static_cast<std::uint64_t>(m_dev), static_cast<std::uint64_t>(m_ino));
    VM_ASSERT(m_cache.remove(page, shadow));
    m_machine.writeback().clear_page_dirty(*this, page);
    m_machine.stat().dec(VmStatItem::NrFilePages);
}

std::uint64_t Inode::refresh_size()
{
    struct stat st;
    if (::fstat(m_fd, &st) == 0)
        set_size(static_cast<std::uint64_t>(st.st_size));
    return size();
}

Inode::Readahead Inode::readahead() const
{
    std::uint64_t sizes = m_ra_sizes.load(std::memory_order_relaxed);
    return Readahead { m_ra_start.load(std::memory_order_relaxed), static_cast<std::uint32_t>(sizes >> 32),
        static_cast<std::uint32_t>(sizes) };
}

void Inode::set_readahead(const Readahead& state)
{
    m_ra_start.store(state.start, std::memory_order_relaxed);
    m_ra_sizes.store((std::uint64_t { state.size } << 32) | state.async_size, std::memory_order_relaxed);
}

void Inode::set_wb_err(int error)
{
    std::uint32_t old = m_wb_err.load(std::memory_order_acquire);
    std::uint32_t next;
    do {
        next = ((old & ~(kErrnoMask | kSeen)) + kCounterOne) | (static_cast<std::uint32_t>(error) & kErrnoMask);
    } while (!m_wb_err.compare_exchange_weak(old, next, std::memory_order_acq_rel));
}

std::uint32_t Inode::sample_wb_err() const
{
    // errseq_sample(): an error nobody saw yet is reported to the new sampler too.
    std::uint32_t old = m_wb_err.load(std::memory_order_acquire);
    return (old & kSeen) ? old : 0;
}

int Inode::check_and_advance_wb_err(std::atomic<std::uint32_t>& since)
{
    std::uint32_t old = m_wb_err.load(std::memory_order_acquire);
    std::uint32_t seen = since.load(std::memory_order_acquire);
    if ((old | kSeen) == (seen | kSeen) || old == 0)
        return 0;
    while (!(old & kSeen) && !m_wb_err.compare_exchange_weak(old, old | kSeen, std::memory_order_acq_rel)) { }
    // Concurrent callers with one cursor: only the one that advances it reports the error.
    if (!since.compare_exchange_strong(seen, old | kSeen, std::memory_order_acq_rel))
        return 0;
    return static_cast<int>(old & kErrnoMask);
}

} // namespace vmemu
