#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vmemu/os/file.hpp>
#include <vmemu/os/syscall.hpp>

namespace vmemu::os {

namespace {
int direct_flag(Direct direct) { return direct == Direct::Yes ? O_DIRECT : 0; }
} // namespace

VmResult<int> open_file(const char* path, Direct direct) noexcept
{
    int fd = ::open(path, O_RDWR | O_CREAT | O_CLOEXEC | direct_flag(direct), 0600);
    if (fd < 0)
        return vm_fail(errno, "cannot open the swap file");
    return fd;
}

VmResult<int> open_tmpfile(const char* directory, Direct direct) noexcept
{
    int fd = ::open(directory, O_TMPFILE | O_RDWR | O_CLOEXEC | direct_flag(direct), 0600);
    if (fd < 0)
        return vm_fail(errno, "cannot create a private swap file (O_TMPFILE)");
    return fd;
}

VmResult<void> allocate_file(int fd, std::uint64_t bytes) noexcept
{
    int result = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
    if (result != 0)
        return vm_fail(result, "cannot allocate the swap file's blocks");
    return {};
}

VmResult<std::uint64_t> file_size(int fd) noexcept
{
    struct stat status {};
    if (::fstat(fd, &status) != 0)
        return vm_fail(errno, "fstat failed");
    return static_cast<std::uint64_t>(status.st_size);
}

VmResult<void> pwrite_all(int fd, const void* buffer, std::size_t bytes, std::uint64_t offset) noexcept
{
    const char* at = static_cast<const char*>(buffer);
    while (bytes > 0) {
        ssize_t n = sys_pwrite(fd, at, bytes, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return vm_fail(n < 0 ? errno : EIO, "write failed");
        at += n;
        bytes -= static_cast<std::size_t>(n);
        offset += static_cast<std::uint64_t>(n);
    }
    return {};
}

VmResult<void> pread_all(int fd, void* buffer, std::size_t bytes, std::uint64_t offset) noexcept
{
    char* at = static_cast<char*>(buffer);
    while (bytes > 0) {
        ssize_t n = sys_pread(fd, at, bytes, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return vm_fail(n < 0 ? errno : EIO, "read failed");
        at += n;
        bytes -= static_cast<std::size_t>(n);
        offset += static_cast<std::uint64_t>(n);
    }
    return {};
}

VmResult<void> copy_range(int in, int out, std::uint64_t offset, std::uint64_t bytes, void* bounce,
    std::size_t bounce_bytes) noexcept
{
    while (bytes > 0) {
        auto in_offset = static_cast<loff_t>(offset);
        auto out_offset = static_cast<loff_t>(offset);
        ssize_t n = ::copy_file_range(in, &in_offset, out, &out_offset, bytes, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0) {
            offset += static_cast<std::uint64_t>(n);
            bytes -= static_cast<std::uint64_t>(n);
            continue;
        }
        if (n == 0)
            return vm_fail(EIO, "copy_file_range stopped short");
        if (errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS)
            return vm_fail(errno, "copy_file_range failed");
        // Not between these files (O_DIRECT, or file systems that cannot): by hand.
        while (bytes > 0) {
            std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(bytes, bounce_bytes));
            VM_TRY(pread_all(in, bounce, chunk, offset));
            VM_TRY(pwrite_all(out, bounce, chunk, offset));
            offset += chunk;
            bytes -= chunk;
        }
    }
    return {};
}

} // namespace vmemu::os
