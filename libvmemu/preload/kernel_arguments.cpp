// The libc functions that hand the kernel paths and small structures, at the fast entry to the
// system-call boundary (user_call.hpp): each pins what the syscall table says its system call
// reads and writes, then calls libc's function undiverted. Each is named with the system call
// whose table entry describes its arguments.
#include <cerrno>
#include <cstdarg>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <ctime>
#include <unistd.h>
#include <vmemu/fault/kept_user_memory.hpp>
#include "file_mappings.hpp"
#include "libc_heap.hpp"
#include "runtime.hpp"
#include "user_call.hpp"

namespace vmemu::preload {
namespace {

// open()'s mode, which is there only with O_CREAT or O_TMPFILE.
mode_t mode_of(int flags, va_list list)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? static_cast<mode_t>(va_arg(list, int)) : 0;
}

} // namespace
} // namespace vmemu::preload

using namespace vmemu::preload;

// (a, b) as ", a, b"; () as nothing.
#define VMEMU_MORE_ARGUMENTS(...) __VA_OPT__(, ) __VA_ARGS__
// name(params) calls libc's name(args) as system call nr with the arguments nr_args.
#define VMEMU_USER_CALL(result, name, params, args, nr, nr_args)                                 \
    result name params                                                                             \
    {                                                                                              \
        static auto real = next_symbol<result(*) params>(#name);                                  \
        UserCall call(nr VMEMU_MORE_ARGUMENTS nr_args);                                           \
        return real args;                                                                          \
    }
// The common case: the arguments are the system call's.
#define VMEMU_SAME_CALL(result, name, params, args, nr) VMEMU_USER_CALL(result, name, params, args, nr, args)
// A call with no memory in it: nothing to pin (and no room for pins on the caller's stack).
#define VMEMU_PLAIN_CALL(result, name, params, args)                                              \
    result name params                                                                             \
    {                                                                                              \
        static auto real = next_symbol<result(*) params>(#name);                                  \
        vmemu::SyscallsAllowed allowed;                                                            \
        return real args;                                                                          \
    }

extern "C" {

// open()'s variadic mode, read as libc reads it.
#define VMEMU_OPEN_MODE(flags, mode)                                                              \
    va_list list;                                                                                  \
    va_start(list, flags);                                                                         \
    mode_t mode = mode_of(flags, list);                                                            \
    va_end(list)

int open(const char* path, int flags, ...)
{
    static auto real = next_symbol<int (*)(const char*, int, ...)>("open");
    VMEMU_OPEN_MODE(flags, mode);
    UserCall call(SYS_open, path, flags, mode);
    return real(path, flags, mode);
}

int open64(const char* path, int flags, ...)
{
    static auto real = next_symbol<int (*)(const char*, int, ...)>("open64");
    VMEMU_OPEN_MODE(flags, mode);
    UserCall call(SYS_open, path, flags, mode);
    return real(path, flags, mode);
}

int openat(int directory, const char* path, int flags, ...)
{
    static auto real = next_symbol<int (*)(int, const char*, int, ...)>("openat");
    VMEMU_OPEN_MODE(flags, mode);
    UserCall call(SYS_openat, directory, path, flags, mode);
    return real(directory, path, flags, mode);
}

int openat64(int directory, const char* path, int flags, ...)
{
    static auto real = next_symbol<int (*)(int, const char*, int, ...)>("openat64");
    VMEMU_OPEN_MODE(flags, mode);
    UserCall call(SYS_openat, directory, path, flags, mode);
    return real(directory, path, flags, mode);
}

// The fortified forms (_FORTIFY_SOURCE) that Debian's programs call.
int __open_2(const char* path, int flags) { return open(path, flags); }
int __open64_2(const char* path, int flags) { return open64(path, flags); }
int __openat_2(int directory, const char* path, int flags) { return openat(directory, path, flags); }
int __openat64_2(int directory, const char* path, int flags) { return openat64(directory, path, flags); }

// Calls with no memory of the program's in them, which would otherwise be diverted for nothing.
VMEMU_PLAIN_CALL(int, close, (int fd), (fd))
VMEMU_PLAIN_CALL(off_t, lseek, (int fd, off_t offset, int whence), (fd, offset, whence))
VMEMU_PLAIN_CALL(off64_t, lseek64, (int fd, off64_t offset, int whence), (fd, offset, whence))
VMEMU_PLAIN_CALL(int, dup, (int fd), (fd))
VMEMU_PLAIN_CALL(int, dup2, (int fd, int to), (fd, to))
VMEMU_PLAIN_CALL(int, dup3, (int fd, int to, int flags), (fd, to, flags))
VMEMU_PLAIN_CALL(int, fchown, (int fd, uid_t user, gid_t group), (fd, user, group))
VMEMU_PLAIN_CALL(int, fchmod, (int fd, mode_t mode), (fd, mode))
VMEMU_PLAIN_CALL(int, fchdir, (int fd), (fd))
VMEMU_PLAIN_CALL(int, flock, (int fd, int operation), (fd, operation))
VMEMU_PLAIN_CALL(int, shutdown, (int fd, int how), (fd, how))
VMEMU_PLAIN_CALL(int, listen, (int fd, int backlog), (fd, backlog))
VMEMU_PLAIN_CALL(int, socket, (int domain, int type, int protocol), (domain, type, protocol))
VMEMU_PLAIN_CALL(int, kill, (pid_t pid, int signal), (pid, signal))
VMEMU_PLAIN_CALL(mode_t, umask, (mode_t mask), (mask))
VMEMU_PLAIN_CALL(int, sched_yield, (), ())
VMEMU_PLAIN_CALL(pid_t, getpid, (), ())
VMEMU_PLAIN_CALL(pid_t, getppid, (), ())
VMEMU_PLAIN_CALL(pid_t, gettid, (), ())
VMEMU_PLAIN_CALL(uid_t, getuid, (), ())
VMEMU_PLAIN_CALL(uid_t, geteuid, (), ())
VMEMU_PLAIN_CALL(gid_t, getgid, (), ())
VMEMU_PLAIN_CALL(gid_t, getegid, (), ())

// fcntl() and ioctl() take one more argument, an integer or a pointer, read as libc reads it.
#define VMEMU_VARIADIC_CALL(name, nr)                                                              \
    int name(int fd, int command, ...)                                                             \
    {                                                                                              \
        static auto real = next_symbol<int (*)(int, int, ...)>(#name);                            \
        va_list list;                                                                              \
        va_start(list, command);                                                                   \
        void* argument = va_arg(list, void*);                                                      \
        va_end(list);                                                                              \
        UserCall call(nr, fd, command, argument);                                                  \
        return real(fd, command, argument);                                                        \
    }
VMEMU_VARIADIC_CALL(fcntl, SYS_fcntl)
VMEMU_VARIADIC_CALL(fcntl64, SYS_fcntl)

int ioctl(int fd, unsigned long request, ...)
{
    static auto real = next_symbol<int (*)(int, unsigned long, ...)>("ioctl");
    va_list list;
    va_start(list, request);
    void* argument = va_arg(list, void*);
    va_end(list);
    UserCall call(SYS_ioctl, fd, request, argument);
    return real(fd, request, argument);
}

VMEMU_SAME_CALL(int, creat, (const char* path, mode_t mode), (path, mode), SYS_creat)
VMEMU_SAME_CALL(int, creat64, (const char* path, mode_t mode), (path, mode), SYS_creat)
VMEMU_SAME_CALL(int, access, (const char* path, int mode), (path, mode), SYS_access)
VMEMU_SAME_CALL(int, faccessat, (int directory, const char* path, int mode, int flags),
    (directory, path, mode, flags), SYS_faccessat)
VMEMU_SAME_CALL(int, unlink, (const char* path), (path), SYS_unlink)
VMEMU_SAME_CALL(int, unlinkat, (int directory, const char* path, int flags), (directory, path, flags), SYS_unlinkat)
VMEMU_SAME_CALL(int, rmdir, (const char* path), (path), SYS_rmdir)
VMEMU_SAME_CALL(int, chdir, (const char* path), (path), SYS_chdir)
VMEMU_SAME_CALL(int, mkdir, (const char* path, mode_t mode), (path, mode), SYS_mkdir)
VMEMU_SAME_CALL(int, mkdirat, (int directory, const char* path, mode_t mode), (directory, path, mode), SYS_mkdirat)
VMEMU_SAME_CALL(int, chmod, (const char* path, mode_t mode), (path, mode), SYS_chmod)
VMEMU_SAME_CALL(int, fchmodat, (int directory, const char* path, mode_t mode, int flags),
    (directory, path, mode, flags), SYS_fchmodat)
VMEMU_SAME_CALL(int, chown, (const char* path, uid_t user, gid_t group), (path, user, group), SYS_chown)
VMEMU_SAME_CALL(int, lchown, (const char* path, uid_t user, gid_t group), (path, user, group), SYS_lchown)
VMEMU_SAME_CALL(int, fchownat, (int directory, const char* path, uid_t user, gid_t group, int flags),
    (directory, path, user, group, flags), SYS_fchownat)
VMEMU_SAME_CALL(int, mkfifo, (const char* path, mode_t mode), (path, mode), SYS_mknod)
VMEMU_SAME_CALL(int, mknod, (const char* path, mode_t mode, dev_t device), (path, mode, device), SYS_mknod)
VMEMU_SAME_CALL(int, rename, (const char* from, const char* to), (from, to), SYS_rename)
VMEMU_SAME_CALL(int, renameat, (int from_directory, const char* from, int to_directory, const char* to),
    (from_directory, from, to_directory, to), SYS_renameat)
VMEMU_SAME_CALL(int, renameat2,
    (int from_directory, const char* from, int to_directory, const char* to, unsigned flags),
    (from_directory, from, to_directory, to, flags), SYS_renameat2)
VMEMU_SAME_CALL(int, link, (const char* from, const char* to), (from, to), SYS_link)
VMEMU_SAME_CALL(int, linkat, (int from_directory, const char* from, int to_directory, const char* to, int flags),
    (from_directory, from, to_directory, to, flags), SYS_linkat)
VMEMU_SAME_CALL(int, symlink, (const char* from, const char* to), (from, to), SYS_symlink)
VMEMU_SAME_CALL(int, symlinkat, (const char* from, int directory, const char* to), (from, directory, to),
    SYS_symlinkat)

// truncate(2) of a file vmemu maps goes by its page cache (file_mappings.hpp).
int truncate(const char* path, off_t length)
{
    static auto real = next_symbol<int (*)(const char*, off_t)>("truncate");
    UserCall call(SYS_truncate, path, length);
    if (auto result = truncate_mapped_file(path, length, __builtin_return_address(0)))
        return *result;
    return real(path, length);
}
int truncate64(const char* path, off64_t length) { return truncate(path, length); }

VMEMU_SAME_CALL(int, utimensat, (int directory, const char* path, const struct timespec* times, int flags),
    (directory, path, times, flags), SYS_utimensat)
VMEMU_SAME_CALL(int, stat, (const char* path, struct stat* buffer), (path, buffer), SYS_stat)
VMEMU_SAME_CALL(int, stat64, (const char* path, struct stat64* buffer), (path, buffer), SYS_stat)
VMEMU_SAME_CALL(int, lstat, (const char* path, struct stat* buffer), (path, buffer), SYS_lstat)
VMEMU_SAME_CALL(int, lstat64, (const char* path, struct stat64* buffer), (path, buffer), SYS_lstat)
VMEMU_SAME_CALL(int, statfs, (const char* path, struct statfs* buffer), (path, buffer), SYS_statfs)
VMEMU_SAME_CALL(int, statfs64, (const char* path, struct statfs64* buffer), (path, buffer), SYS_statfs)
VMEMU_SAME_CALL(int, fstatat, (int directory, const char* path, struct stat* buffer, int flags),
    (directory, path, buffer, flags), SYS_newfstatat)
VMEMU_SAME_CALL(int, fstatat64, (int directory, const char* path, struct stat64* buffer, int flags),
    (directory, path, buffer, flags), SYS_newfstatat)
VMEMU_SAME_CALL(int, statx, (int directory, const char* path, int flags, unsigned mask, struct statx* buffer),
    (directory, path, flags, mask, buffer), SYS_statx)
VMEMU_SAME_CALL(int, fstat, (int fd, struct stat* buffer), (fd, buffer), SYS_fstat)
VMEMU_SAME_CALL(int, fstat64, (int fd, struct stat64* buffer), (fd, buffer), SYS_fstat)
VMEMU_SAME_CALL(ssize_t, readlink, (const char* path, char* buffer, std::size_t size), (path, buffer, size),
    SYS_readlink)
VMEMU_SAME_CALL(ssize_t, readlinkat, (int directory, const char* path, char* buffer, std::size_t size),
    (directory, path, buffer, size), SYS_readlinkat)
VMEMU_SAME_CALL(char*, getcwd, (char* buffer, std::size_t size), (buffer, size), SYS_getcwd)
VMEMU_SAME_CALL(int, pipe, (int* fds), (fds), SYS_pipe)
VMEMU_SAME_CALL(int, pipe2, (int* fds, int flags), (fds, flags), SYS_pipe2)
VMEMU_SAME_CALL(int, socketpair, (int domain, int type, int protocol, int* fds), (domain, type, protocol, fds),
    SYS_socketpair)
VMEMU_SAME_CALL(int, poll, (struct pollfd* fds, nfds_t count, int timeout), (fds, count, timeout), SYS_poll)
VMEMU_USER_CALL(int, ppoll, (struct pollfd* fds, nfds_t count, const struct timespec* timeout, const sigset_t* mask),
    (fds, count, timeout, mask), SYS_ppoll, (fds, count, timeout, mask, sizeof(std::uint64_t)))
VMEMU_SAME_CALL(int, select, (int count, fd_set* readable, fd_set* writable, fd_set* failed, struct timeval* timeout),
    (count, readable, writable, failed, timeout), SYS_select)
VMEMU_SAME_CALL(int, epoll_wait, (int epoll, struct epoll_event* events, int count, int timeout),
    (epoll, events, count, timeout), SYS_epoll_wait)
VMEMU_SAME_CALL(int, epoll_ctl, (int epoll, int operation, int fd, struct epoll_event* event),
    (epoll, operation, fd, event), SYS_epoll_ctl)
VMEMU_SAME_CALL(int, nanosleep, (const struct timespec* request, struct timespec* remaining), (request, remaining),
    SYS_nanosleep)
VMEMU_SAME_CALL(int, clock_nanosleep,
    (clockid_t clock, int flags, const struct timespec* request, struct timespec* remaining),
    (clock, flags, request, remaining), SYS_clock_nanosleep)
VMEMU_USER_CALL(pid_t, waitpid, (pid_t pid, int* status, int options), (pid, status, options), SYS_wait4,
    (pid, status, options, nullptr))
VMEMU_USER_CALL(pid_t, wait, (int* status), (status), SYS_wait4, (-1, status, 0, nullptr))
VMEMU_SAME_CALL(pid_t, wait4, (pid_t pid, int* status, int options, struct rusage* usage),
    (pid, status, options, usage), SYS_wait4)
VMEMU_SAME_CALL(int, uname, (struct utsname* name), (name), SYS_uname)
VMEMU_SAME_CALL(int, connect, (int fd, const struct sockaddr* address, socklen_t length), (fd, address, length),
    SYS_connect)
VMEMU_SAME_CALL(int, bind, (int fd, const struct sockaddr* address, socklen_t length), (fd, address, length),
    SYS_bind)
VMEMU_SAME_CALL(int, accept, (int fd, struct sockaddr* address, socklen_t* length), (fd, address, length),
    SYS_accept)
VMEMU_SAME_CALL(int, accept4, (int fd, struct sockaddr* address, socklen_t* length, int flags),
    (fd, address, length, flags), SYS_accept4)
VMEMU_SAME_CALL(int, getsockname, (int fd, struct sockaddr* address, socklen_t* length), (fd, address, length),
    SYS_getsockname)
VMEMU_SAME_CALL(int, getpeername, (int fd, struct sockaddr* address, socklen_t* length), (fd, address, length),
    SYS_getpeername)
VMEMU_SAME_CALL(int, getsockopt, (int fd, int level, int option, void* value, socklen_t* length),
    (fd, level, option, value, length), SYS_getsockopt)
int setsockopt(int fd, int level, int option, const void* value, socklen_t length)
{
    static auto real = next_symbol<int (*)(int, int, int, const void*, socklen_t)>("setsockopt");
    long args[6] = { fd, level, option };
    if (int error = vmemu::refused_for_kept_memory(SYS_setsockopt, args)) {
        errno = error;
        return -1;
    }
    UserCall call(SYS_setsockopt, fd, level, option, value, length);
    return real(fd, level, option, value, length);
}
VMEMU_SAME_CALL(ssize_t, recvmsg, (int fd, struct msghdr* message, int flags), (fd, message, flags), SYS_recvmsg)
VMEMU_SAME_CALL(ssize_t, sendmsg, (int fd, const struct msghdr* message, int flags), (fd, message, flags),
    SYS_sendmsg)

ssize_t getrandom(void* buffer, std::size_t bytes, unsigned flags)
{
    static auto real = next_symbol<ssize_t (*)(void*, std::size_t, unsigned)>("getrandom");
    UserCall call(SYS_getrandom, buffer, bytes, flags);
    return real(buffer, call.length(1), flags);
}

} // extern "C"
