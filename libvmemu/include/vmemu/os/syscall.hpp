#pragma once
// The system calls vmemu makes on its own account, as system calls. In the LD_PRELOAD shim
// read(2), write(2), ftruncate(2), fdatasync(2) and the like are wrappers that serve the
// program (pinning its buffers, keeping vmemu's page cache coherent); vmemu's own calls, made
// with its locks held or from the fault path, must never go through them.
#include <cstddef>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

namespace vmemu::os {

inline ssize_t sys_read(int fd, void* buffer, std::size_t bytes) noexcept
{
    return ::syscall(SYS_read, fd, buffer, bytes);
}
inline ssize_t sys_write(int fd, const void* buffer, std::size_t bytes) noexcept
{
    return ::syscall(SYS_write, fd, buffer, bytes);
}
inline ssize_t sys_pread(int fd, void* buffer, std::size_t bytes, off_t offset) noexcept
{
    return ::syscall(SYS_pread64, fd, buffer, bytes, offset);
}
inline ssize_t sys_pwrite(int fd, const void* buffer, std::size_t bytes, off_t offset) noexcept
{
    return ::syscall(SYS_pwrite64, fd, buffer, bytes, offset);
}
inline int sys_ftruncate(int fd, off_t length) noexcept { return static_cast<int>(::syscall(SYS_ftruncate, fd, length)); }
inline int sys_fdatasync(int fd) noexcept { return static_cast<int>(::syscall(SYS_fdatasync, fd)); }

} // namespace vmemu::os
