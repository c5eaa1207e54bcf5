#include <cerrno>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <vmemu/fault/kept_user_memory.hpp>
#include <vmemu/os/syscall_gate.hpp>

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif

namespace vmemu {

int refused_for_kept_memory(long nr, const long* args) noexcept
{
    switch (nr) {
    case SYS_io_uring_setup:
    case SYS_io_setup:
        return ENOSYS;
    case SYS_setsockopt:
        return args[1] == SOL_SOCKET && args[2] == SO_ZEROCOPY ? EOPNOTSUPP : 0;
    default:
        return 0;
    }
}

long copying_call(long nr, long* args) noexcept
{
    if (nr != SYS_vmsplice)
        return nr;
    // vmsplice(fd, iov, count, flags) moves pages into a pipe it may write, and copies out of
    // one it may only read.
    long mode = os::gate_syscall(SYS_fcntl, args[0], F_GETFL, 0, 0, 0, 0);
    if (mode < 0 || (mode & O_ACCMODE) == O_RDONLY)
        return nr;
    args[3] = 0;
    return SYS_writev;
}

} // namespace vmemu
