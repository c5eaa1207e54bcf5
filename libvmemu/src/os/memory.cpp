#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vmemu/os/memory.hpp>
#include <vmemu/os/syscall.hpp>

namespace vmemu::os {

namespace {
// The kernel's calls themselves, not the libc symbols: the LD_PRELOAD shim interposes mmap and
// friends for the program, and vmemu's own mappings must never come back to vmemu.
void* kernel_mmap(void* address, std::size_t bytes, int prot, int flags, int fd, off_t offset)
{
    long result = ::syscall(SYS_mmap, address, bytes, prot, flags, fd, offset);
    return result == -1 ? MAP_FAILED : reinterpret_cast<void*>(result); // syscall() sets errno
}
int kernel_munmap(void* address, std::size_t bytes) { return static_cast<int>(::syscall(SYS_munmap, address, bytes)); }
int kernel_madvise(void* address, std::size_t bytes, int advice)
{
    return static_cast<int>(::syscall(SYS_madvise, address, bytes, advice));
}
// Fault injection (inject_map_errors()): the next count calls that map frames fail.
std::atomic<unsigned> g_map_errors { 0 };
std::atomic<int> g_map_error { 0 };
std::atomic<unsigned> g_zero_page_writes { 0 };

bool take_one(std::atomic<unsigned>& counter)
{
    unsigned left = counter.load(std::memory_order_relaxed);
    while (left != 0 && !counter.compare_exchange_weak(left, left - 1, std::memory_order_relaxed)) {
    }
    return left != 0;
}
} // namespace

int take_injected_map_error() noexcept
{
    return take_one(g_map_errors) ? g_map_error.load(std::memory_order_relaxed) : 0;
}

void inject_zero_page_writes(unsigned count) noexcept
{
    g_zero_page_writes.store(count, std::memory_order_relaxed);
}

bool take_injected_zero_page_write() noexcept { return take_one(g_zero_page_writes); }

void inject_map_errors(int error, unsigned count) noexcept
{
    g_map_error.store(error, std::memory_order_relaxed);
    g_map_errors.store(count, std::memory_order_relaxed);
}

VmResult<VirtAddr> reserve(std::size_t bytes) noexcept
{
    void* address = kernel_mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (address == MAP_FAILED)
        return vm_fail(errno, "cannot reserve virtual space (mmap PROT_NONE)");
    return VirtAddr(address);
}

VmResult<void> reserve_at(VirtAddr address, std::size_t bytes) noexcept
{
    void* result = kernel_mmap(address.ptr(), bytes, PROT_NONE,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (result == MAP_FAILED)
        return vm_fail(errno, "cannot reserve virtual space at a fixed address");
    return {};
}

VmResult<void*> map_anonymous(std::size_t bytes) noexcept
{
    void* address = kernel_mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (address == MAP_FAILED)
        return vm_fail(errno, "cannot map anonymous memory");
    return address;
}

VmResult<void> unmap(void* address, std::size_t bytes) noexcept
{
    if (kernel_munmap(address, bytes) != 0)
        return vm_fail(errno, "munmap failed");
    return {};
}

VmResult<void> map_fixed_shared(VirtAddr address, std::size_t bytes, HwProt prot, int fd, std::uint64_t offset,
    Populate populate) noexcept
{
    int flags = MAP_SHARED | MAP_FIXED | (populate == Populate::Yes ? MAP_POPULATE : 0);
    if (int injected = take_injected_map_error())
        return vm_fail(injected, "cannot map frames into the hardware view");
    void* result = kernel_mmap(address.ptr(), bytes, static_cast<int>(prot), flags, fd, static_cast<off_t>(offset));
    if (result == MAP_FAILED)
        return vm_fail(errno, "cannot map frames into the hardware view");
    return {};
}

VmResult<void> map_fixed_reserved(VirtAddr address, std::size_t bytes) noexcept
{
    void* result
        = kernel_mmap(address.ptr(), bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    if (result == MAP_FAILED)
        return vm_fail(errno, "cannot return pages to the reservation");
    return {};
}

VmResult<void> protect(VirtAddr address, std::size_t bytes, HwProt prot) noexcept
{
    if (::syscall(SYS_mprotect, address.ptr(), bytes, static_cast<int>(prot)) != 0)
        return vm_fail(errno, "mprotect of the reservation failed");
    return {};
}

VmResult<void> discard(VirtAddr address, std::size_t bytes) noexcept
{
    if (kernel_madvise(address.ptr(), bytes, MADV_DONTNEED) != 0)
        return vm_fail(errno, "MADV_DONTNEED failed");
    return {};
}

void no_huge_pages(VirtAddr address, std::size_t bytes) noexcept { kernel_madvise(address.ptr(), bytes, MADV_NOHUGEPAGE); }

VmResult<void> punch_hole(int fd, std::uint64_t offset, std::uint64_t bytes) noexcept
{
    if (::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset), static_cast<off_t>(bytes))
        != 0)
        return vm_fail(errno, "cannot punch a hole in the frame arena");
    return {};
}

void exclude_from_fork(VirtAddr address, std::size_t bytes) noexcept
{
    kernel_madvise(address.ptr(), bytes, MADV_DONTFORK);
}

void include_in_fork(VirtAddr address, std::size_t bytes) noexcept
{
    kernel_madvise(address.ptr(), bytes, MADV_DOFORK);
}

VmResult<std::byte*> map_shared(int fd, std::size_t bytes) noexcept
{
    void* address = kernel_mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (address == MAP_FAILED)
        return vm_fail(errno, "cannot map the frame arena");
    return static_cast<std::byte*>(address);
}

VmResult<void> map_shared_at(VirtAddr address, int fd, std::size_t bytes) noexcept
{
    void* result = kernel_mmap(address.ptr(), bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
    if (result == MAP_FAILED)
        return vm_fail(errno, "cannot map the frame arena at its address");
    return {};
}

VmResult<int> memfd_create(const char* name, std::size_t bytes) noexcept
{
    int fd = ::memfd_create(name, MFD_CLOEXEC);
    if (fd < 0)
        return vm_fail(errno, "memfd_create failed");
    if (sys_ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
        int error = errno;
        ::close(fd);
        return vm_fail(error, "cannot size the frame arena (ftruncate)");
    }
    return fd;
}

void close_fd(int fd) noexcept { ::close(fd); }

std::size_t max_map_count() noexcept
{
    constexpr std::size_t kLinuxDefault = 65530;
    FILE* file = std::fopen("/proc/sys/vm/max_map_count", "re");
    if (!file)
        return kLinuxDefault;
    unsigned long value = 0;
    bool ok = std::fscanf(file, "%lu", &value) == 1;
    std::fclose(file);
    return ok ? value : kLinuxDefault;
}

std::size_t current_map_count() noexcept
{
    int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    std::size_t lines = 0;
    char buffer[4096];
    for (;;) {
        ssize_t n = sys_read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; ++i)
            lines += buffer[i] == '\n';
    }
    ::close(fd);
    return lines;
}

} // namespace vmemu::os

#include <cstdint>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/syscall.h>

namespace vmemu::os {

std::size_t memlock_limit() noexcept
{
    struct rlimit limit {};
    if (::getrlimit(RLIMIT_MEMLOCK, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        return SIZE_MAX;
    return static_cast<std::size_t>(limit.rlim_cur);
}

bool can_lock_without_limit() noexcept
{
    __user_cap_header_struct header { _LINUX_CAPABILITY_VERSION_3, 0 };
    __user_cap_data_struct data[2] {};
    if (::syscall(SYS_capget, &header, data) != 0)
        return false;
    return data[CAP_IPC_LOCK / 32].effective & (1u << (CAP_IPC_LOCK % 32));
}

std::size_t ram_and_swap_bytes() noexcept
{
    struct sysinfo info {};
    if (::sysinfo(&info) != 0)
        return SIZE_MAX;
    return (static_cast<std::size_t>(info.totalram) + info.totalswap) * info.mem_unit;
}

std::size_t thread_count() noexcept
{
    int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buffer[1024];
    ssize_t n;
    do
        n = sys_read(fd, buffer, sizeof buffer - 1);
    while (n < 0 && errno == EINTR);
    ::close(fd);
    if (n <= 0)
        return 0;
    buffer[n] = '\0';
    // pid (comm) state ppid ...: num_threads is the 20th field, the 18th after the comm,
    // which may itself hold spaces and parentheses.
    const char* at = std::strrchr(buffer, ')');
    for (int field = 2; at && field < 20; ++field)
        at = std::strchr(at + 1, ' ');
    return at ? static_cast<std::size_t>(std::strtoul(at + 1, nullptr, 10)) : 0;
}

} // namespace vmemu::os
