// System calls that take paths and small structures. Under the SIGSEGV fault source the
// kernel cannot fault emulated memory in, so a path in a heap block that reclaim has swapped
// out, or taken out of the kernel's view to watch its accessed bit, would make open(2) fail
// with EFAULT. The wrappers copy each path onto their own stack (reading it faults it in, as
// any read does; a path longer than PATH_MAX is cut there, and the kernel says ENAMETOOLONG
// as it would), and pin the structures the kernel reads or writes for the length of the call.
// Calls that libc makes internally on a path it was given (fopen(), opendir(), realpath(),
// dlopen()) are wrapped at their entry.
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <ctime>
#include <unistd.h>
#include "file_mappings.hpp"
#include "libc_heap.hpp"
#include "runtime.hpp"
#include "user_pins.hpp"

namespace vmemu::preload {
namespace {

// A path the kernel reads, on this stack when it lies in emulated memory.
class KernelPath {
public:
    explicit KernelPath(const char* path)
        : m_path(path)
    {
        if (!in_emulated_memory(path))
            return;
        std::size_t length = strnlen(path, PATH_MAX);
        std::memcpy(m_copy, path, length);
        m_copy[length] = '\0';
        m_path = m_copy;
    }
    KernelPath(const KernelPath&) = delete;
    KernelPath& operator=(const KernelPath&) = delete;
    operator const char*() const { return m_path; }

private:
    const char* m_path;
    char m_copy[PATH_MAX + 1];
};

// Pins an object of the program's that the kernel reads or writes (nothing outside emulated
// memory, and nothing for a null pointer). A pointer vmemu cannot fault in is left to the
// kernel, which fails the call with EFAULT as it would without vmemu.
template<typename T>
void pin_object(Pins& pins, T* object, std::size_t count = 1)
{
    if (object && count)
        (void)pins.pin(object, sizeof(T) * count, Access::Write);
}

void pin_bytes(Pins& pins, const void* buffer, std::size_t bytes)
{
    if (buffer && bytes)
        (void)pins.pin(buffer, bytes, Access::Write);
}

// recvmsg() and sendmsg(): the kernel gets a copy of the header and of its iovec array on
// this stack, with the name, the control data and the buffers pinned (a buffer beyond the
// pins' room ends the vector there: a short transfer, which a stream socket may give).
// Returns nullptr, and the call goes as it is, for a header it cannot take.
struct PinnedMessage {
    msghdr header;
    iovec vectors[kMaxVectors];
};

msghdr* pin_message(Pins& pins, const msghdr* message, PinnedMessage& pinned, Access access)
{
    if (!message || !runtime())
        return nullptr;
    pinned.header = *message;
    if (pinned.header.msg_iovlen > kMaxVectors || (pinned.header.msg_iovlen && !pinned.header.msg_iov))
        return nullptr;
    pin_bytes(pins, pinned.header.msg_name, pinned.header.msg_namelen);
    pin_bytes(pins, pinned.header.msg_control, pinned.header.msg_controllen);
    pinned.header.msg_iovlen = pin_vectors(pins, message->msg_iov, pinned.header.msg_iovlen, pinned.vectors, access);
    pinned.header.msg_iov = pinned.vectors;
    return &pinned.header;
}

template<typename Function>
Function real(const char* name)
{
    return next_symbol<Function>(name);
}

// open()'s mode, which is there only with O_CREAT or O_TMPFILE.
mode_t mode_of(int flags, va_list list)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? static_cast<mode_t>(va_arg(list, int)) : 0;
}

} // namespace
} // namespace vmemu::preload

using namespace vmemu::preload;

// One path argument, int result.
#define VMEMU_PATH_CALL(name, params, args, types)                                                \
    int name params                                                                                \
    {                                                                                              \
        static auto call = real<int(*) types>(#name);                                              \
        KernelPath path_copy(path);                                                                \
        return call args;                                                                          \
    }
// Two paths, int result.
#define VMEMU_TWO_PATH_CALL(name, params, args, types)                                            \
    int name params                                                                                \
    {                                                                                              \
        static auto call = real<int(*) types>(#name);                                              \
        KernelPath from_copy(from);                                                                \
        KernelPath to_copy(to);                                                                    \
        return call args;                                                                          \
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
    static auto call = real<int (*)(const char*, int, ...)>("open");
    VMEMU_OPEN_MODE(flags, mode);
    return call(KernelPath(path), flags, mode);
}

int open64(const char* path, int flags, ...)
{
    static auto call = real<int (*)(const char*, int, ...)>("open64");
    VMEMU_OPEN_MODE(flags, mode);
    return call(KernelPath(path), flags, mode);
}

int openat(int directory, const char* path, int flags, ...)
{
    static auto call = real<int (*)(int, const char*, int, ...)>("openat");
    VMEMU_OPEN_MODE(flags, mode);
    return call(directory, KernelPath(path), flags, mode);
}

int openat64(int directory, const char* path, int flags, ...)
{
    static auto call = real<int (*)(int, const char*, int, ...)>("openat64");
    VMEMU_OPEN_MODE(flags, mode);
    return call(directory, KernelPath(path), flags, mode);
}

VMEMU_PATH_CALL(creat, (const char* path, mode_t mode), (path_copy, mode), (const char*, mode_t))
VMEMU_PATH_CALL(creat64, (const char* path, mode_t mode), (path_copy, mode), (const char*, mode_t))
VMEMU_PATH_CALL(access, (const char* path, int mode), (path_copy, mode), (const char*, int))
VMEMU_PATH_CALL(faccessat, (int directory, const char* path, int mode, int flags),
    (directory, path_copy, mode, flags), (int, const char*, int, int))
VMEMU_PATH_CALL(unlink, (const char* path), (path_copy), (const char*))
VMEMU_PATH_CALL(unlinkat, (int directory, const char* path, int flags), (directory, path_copy, flags),
    (int, const char*, int))
VMEMU_PATH_CALL(rmdir, (const char* path), (path_copy), (const char*))
VMEMU_PATH_CALL(chdir, (const char* path), (path_copy), (const char*))
VMEMU_PATH_CALL(mkdir, (const char* path, mode_t mode), (path_copy, mode), (const char*, mode_t))
VMEMU_PATH_CALL(mkdirat, (int directory, const char* path, mode_t mode), (directory, path_copy, mode),
    (int, const char*, mode_t))
VMEMU_PATH_CALL(chmod, (const char* path, mode_t mode), (path_copy, mode), (const char*, mode_t))
VMEMU_PATH_CALL(fchmodat, (int directory, const char* path, mode_t mode, int flags),
    (directory, path_copy, mode, flags), (int, const char*, mode_t, int))
VMEMU_PATH_CALL(chown, (const char* path, uid_t user, gid_t group), (path_copy, user, group),
    (const char*, uid_t, gid_t))
VMEMU_PATH_CALL(lchown, (const char* path, uid_t user, gid_t group), (path_copy, user, group),
    (const char*, uid_t, gid_t))
VMEMU_PATH_CALL(fchownat, (int directory, const char* path, uid_t user, gid_t group, int flags),
    (directory, path_copy, user, group, flags), (int, const char*, uid_t, gid_t, int))
// truncate(2) of a file vmemu maps goes by its page cache (file_mappings.hpp).
int truncate(const char* path, off_t length)
{
    static auto call = real<int (*)(const char*, off_t)>("truncate");
    KernelPath path_copy(path);
    if (auto result = truncate_mapped_file(path_copy, length, __builtin_return_address(0)))
        return *result;
    return call(path_copy, length);
}
int truncate64(const char* path, off64_t length) { return truncate(path, length); }
VMEMU_PATH_CALL(mkfifo, (const char* path, mode_t mode), (path_copy, mode), (const char*, mode_t))
VMEMU_PATH_CALL(mknod, (const char* path, mode_t mode, dev_t device), (path_copy, mode, device),
    (const char*, mode_t, dev_t))
VMEMU_TWO_PATH_CALL(rename, (const char* from, const char* to), (from_copy, to_copy), (const char*, const char*))
VMEMU_TWO_PATH_CALL(renameat, (int from_directory, const char* from, int to_directory, const char* to),
    (from_directory, from_copy, to_directory, to_copy), (int, const char*, int, const char*))
VMEMU_TWO_PATH_CALL(renameat2,
    (int from_directory, const char* from, int to_directory, const char* to, unsigned flags),
    (from_directory, from_copy, to_directory, to_copy, flags), (int, const char*, int, const char*, unsigned))
VMEMU_TWO_PATH_CALL(link, (const char* from, const char* to), (from_copy, to_copy), (const char*, const char*))
VMEMU_TWO_PATH_CALL(linkat, (int from_directory, const char* from, int to_directory, const char* to, int flags),
    (from_directory, from_copy, to_directory, to_copy, flags), (int, const char*, int, const char*, int))
VMEMU_TWO_PATH_CALL(symlink, (const char* from, const char* to), (from_copy, to_copy), (const char*, const char*))
VMEMU_TWO_PATH_CALL(symlinkat, (const char* from, int directory, const char* to), (from_copy, directory, to_copy),
    (const char*, int, const char*))

int utimensat(int directory, const char* path, const struct timespec times[2], int flags)
{
    static auto call = real<int (*)(int, const char*, const struct timespec*, int)>("utimensat");
    KernelPath path_copy(path);
    Pins pins;
    pin_object(pins, times, 2);
    return call(directory, path_copy, times, flags);
}

#define VMEMU_STAT_CALL(name, buffer_type)                                                        \
    int name(const char* path, buffer_type* buffer)                                               \
    {                                                                                              \
        static auto call = real<int (*)(const char*, buffer_type*)>(#name);                      \
        KernelPath path_copy(path);                                                                \
        Pins pins;                                                                                 \
        pin_object(pins, buffer);                                                                  \
        return call(path_copy, buffer);                                                            \
    }
VMEMU_STAT_CALL(stat, struct stat)
VMEMU_STAT_CALL(stat64, struct stat64)
VMEMU_STAT_CALL(lstat, struct stat)
VMEMU_STAT_CALL(lstat64, struct stat64)
VMEMU_STAT_CALL(statfs, struct statfs)
VMEMU_STAT_CALL(statfs64, struct statfs64)

int fstatat(int directory, const char* path, struct stat* buffer, int flags)
{
    static auto call = real<int (*)(int, const char*, struct stat*, int)>("fstatat");
    KernelPath path_copy(path);
    Pins pins;
    pin_object(pins, buffer);
    return call(directory, path_copy, buffer, flags);
}

int fstatat64(int directory, const char* path, struct stat64* buffer, int flags)
{
    static auto call = real<int (*)(int, const char*, struct stat64*, int)>("fstatat64");
    KernelPath path_copy(path);
    Pins pins;
    pin_object(pins, buffer);
    return call(directory, path_copy, buffer, flags);
}

int statx(int directory, const char* path, int flags, unsigned mask, struct statx* buffer)
{
    static auto call = real<int (*)(int, const char*, int, unsigned, struct statx*)>("statx");
    KernelPath path_copy(path);
    Pins pins;
    pin_object(pins, buffer);
    return call(directory, path_copy, flags, mask, buffer);
}

int fstat(int fd, struct stat* buffer)
{
    static auto call = real<int (*)(int, struct stat*)>("fstat");
    Pins pins;
    pin_object(pins, buffer);
    return call(fd, buffer);
}

int fstat64(int fd, struct stat64* buffer)
{
    static auto call = real<int (*)(int, struct stat64*)>("fstat64");
    Pins pins;
    pin_object(pins, buffer);
    return call(fd, buffer);
}

ssize_t readlink(const char* path, char* buffer, std::size_t size)
{
    static auto call = real<ssize_t (*)(const char*, char*, std::size_t)>("readlink");
    KernelPath path_copy(path);
    Pins pins;
    pin_bytes(pins, buffer, size);
    return call(path_copy, buffer, size);
}

ssize_t readlinkat(int directory, const char* path, char* buffer, std::size_t size)
{
    static auto call = real<ssize_t (*)(int, const char*, char*, std::size_t)>("readlinkat");
    KernelPath path_copy(path);
    Pins pins;
    pin_bytes(pins, buffer, size);
    return call(directory, path_copy, buffer, size);
}

char* getcwd(char* buffer, std::size_t size)
{
    static auto call = real<char* (*)(char*, std::size_t)>("getcwd");
    Pins pins;
    pin_bytes(pins, buffer, size);
    return call(buffer, size);
}

char* realpath(const char* path, char* resolved)
{
    static auto call = real<char* (*)(const char*, char*)>("realpath");
    KernelPath path_copy(path);
    return call(path_copy, resolved);
}

FILE* fopen(const char* path, const char* mode)
{
    static auto call = real<FILE* (*)(const char*, const char*)>("fopen");
    KernelPath path_copy(path);
    return call(path_copy, mode);
}

FILE* fopen64(const char* path, const char* mode)
{
    static auto call = real<FILE* (*)(const char*, const char*)>("fopen64");
    KernelPath path_copy(path);
    return call(path_copy, mode);
}

FILE* freopen(const char* path, const char* mode, FILE* stream)
{
    static auto call = real<FILE* (*)(const char*, const char*, FILE*)>("freopen");
    KernelPath path_copy(path);
    return call(path_copy, mode, stream);
}

FILE* freopen64(const char* path, const char* mode, FILE* stream)
{
    static auto call = real<FILE* (*)(const char*, const char*, FILE*)>("freopen64");
    KernelPath path_copy(path);
    return call(path_copy, mode, stream);
}

DIR* opendir(const char* path)
{
    static auto call = real<DIR* (*)(const char*)>("opendir");
    KernelPath path_copy(path);
    return call(path_copy);
}

void* dlopen(const char* path, int flags)
{
    static auto call = real<void* (*)(const char*, int)>("dlopen");
    KernelPath path_copy(path);
    return call(path_copy, flags);
}

int pipe(int fds[2])
{
    static auto call = real<int (*)(int*)>("pipe");
    Pins pins;
    pin_object(pins, fds, 2);
    return call(fds);
}

int pipe2(int fds[2], int flags)
{
    static auto call = real<int (*)(int*, int)>("pipe2");
    Pins pins;
    pin_object(pins, fds, 2);
    return call(fds, flags);
}

int socketpair(int domain, int type, int protocol, int fds[2])
{
    static auto call = real<int (*)(int, int, int, int*)>("socketpair");
    Pins pins;
    pin_object(pins, fds, 2);
    return call(domain, type, protocol, fds);
}

int poll(struct pollfd* fds, nfds_t count, int timeout)
{
    static auto call = real<int (*)(struct pollfd*, nfds_t, int)>("poll");
    Pins pins;
    pin_object(pins, fds, count);
    return call(fds, count, timeout);
}

int ppoll(struct pollfd* fds, nfds_t count, const struct timespec* timeout, const sigset_t* mask)
{
    static auto call = real<int (*)(struct pollfd*, nfds_t, const struct timespec*, const sigset_t*)>("ppoll");
    Pins pins;
    pin_object(pins, fds, count);
    pin_object(pins, timeout);
    pin_object(pins, mask);
    return call(fds, count, timeout, mask);
}

int select(int count, fd_set* readable, fd_set* writable, fd_set* failed, struct timeval* timeout)
{
    static auto call = real<int (*)(int, fd_set*, fd_set*, fd_set*, struct timeval*)>("select");
    Pins pins;
    pin_object(pins, readable);
    pin_object(pins, writable);
    pin_object(pins, failed);
    pin_object(pins, timeout);
    return call(count, readable, writable, failed, timeout);
}

int epoll_wait(int epoll, struct epoll_event* events, int count, int timeout)
{
    static auto call = real<int (*)(int, struct epoll_event*, int, int)>("epoll_wait");
    Pins pins;
    if (count > 0)
        pin_object(pins, events, static_cast<std::size_t>(count));
    return call(epoll, events, count, timeout);
}

int epoll_ctl(int epoll, int operation, int fd, struct epoll_event* event)
{
    static auto call = real<int (*)(int, int, int, struct epoll_event*)>("epoll_ctl");
    Pins pins;
    pin_object(pins, event);
    return call(epoll, operation, fd, event);
}

int nanosleep(const struct timespec* request, struct timespec* remaining)
{
    static auto call = real<int (*)(const struct timespec*, struct timespec*)>("nanosleep");
    Pins pins;
    pin_object(pins, request);
    pin_object(pins, remaining);
    return call(request, remaining);
}

int clock_nanosleep(clockid_t clock, int flags, const struct timespec* request, struct timespec* remaining)
{
    static auto call = real<int (*)(clockid_t, int, const struct timespec*, struct timespec*)>("clock_nanosleep");
    Pins pins;
    pin_object(pins, request);
    pin_object(pins, remaining);
    return call(clock, flags, request, remaining);
}

pid_t waitpid(pid_t pid, int* status, int options)
{
    static auto call = real<pid_t (*)(pid_t, int*, int)>("waitpid");
    Pins pins;
    pin_object(pins, status);
    return call(pid, status, options);
}

pid_t wait(int* status)
{
    static auto call = real<pid_t (*)(int*)>("wait");
    Pins pins;
    pin_object(pins, status);
    return call(status);
}

pid_t wait4(pid_t pid, int* status, int options, struct rusage* usage)
{
    static auto call = real<pid_t (*)(pid_t, int*, int, struct rusage*)>("wait4");
    Pins pins;
    pin_object(pins, status);
    pin_object(pins, usage);
    return call(pid, status, options, usage);
}

int uname(struct utsname* name)
{
    static auto call = real<int (*)(struct utsname*)>("uname");
    Pins pins;
    pin_object(pins, name);
    return call(name);
}

ssize_t getrandom(void* buffer, std::size_t bytes, unsigned flags)
{
    static auto call = real<ssize_t (*)(void*, std::size_t, unsigned)>("getrandom");
    Pins pins;
    std::size_t usable = bytes ? pins.pin(buffer, bytes, Access::Write) : 0;
    return call(buffer, usable ? usable : bytes, flags);
}

int connect(int fd, const struct sockaddr* address, socklen_t length)
{
    static auto call = real<int (*)(int, const struct sockaddr*, socklen_t)>("connect");
    Pins pins;
    pin_bytes(pins, address, length);
    return call(fd, address, length);
}

int bind(int fd, const struct sockaddr* address, socklen_t length)
{
    static auto call = real<int (*)(int, const struct sockaddr*, socklen_t)>("bind");
    Pins pins;
    pin_bytes(pins, address, length);
    return call(fd, address, length);
}

#define VMEMU_ADDRESS_OUT_CALL(name, params, args)                                                \
    int name params                                                                                \
    {                                                                                              \
        static auto call = real<int (*) params>(#name);                                           \
        Pins pins;                                                                                 \
        pin_object(pins, length);                                                                  \
        if (address && length)                                                                     \
            pin_bytes(pins, address, *length);                                                     \
        return call args;                                                                          \
    }
VMEMU_ADDRESS_OUT_CALL(accept, (int fd, struct sockaddr* address, socklen_t* length), (fd, address, length))
VMEMU_ADDRESS_OUT_CALL(accept4, (int fd, struct sockaddr* address, socklen_t* length, int flags),
    (fd, address, length, flags))
VMEMU_ADDRESS_OUT_CALL(getsockname, (int fd, struct sockaddr* address, socklen_t* length), (fd, address, length))
VMEMU_ADDRESS_OUT_CALL(getpeername, (int fd, struct sockaddr* address, socklen_t* length), (fd, address, length))

int getsockopt(int fd, int level, int option, void* value, socklen_t* length)
{
    static auto call = real<int (*)(int, int, int, void*, socklen_t*)>("getsockopt");
    Pins pins;
    pin_object(pins, length);
    if (value && length)
        pin_bytes(pins, value, *length);
    return call(fd, level, option, value, length);
}

int setsockopt(int fd, int level, int option, const void* value, socklen_t length)
{
    static auto call = real<int (*)(int, int, int, const void*, socklen_t)>("setsockopt");
    Pins pins;
    pin_bytes(pins, value, length);
    return call(fd, level, option, value, length);
}

ssize_t recvmsg(int fd, struct msghdr* message, int flags)
{
    static auto call = real<ssize_t (*)(int, struct msghdr*, int)>("recvmsg");
    Pins pins;
    PinnedMessage pinned;
    msghdr* copy = pin_message(pins, message, pinned, Access::Write);
    if (!copy)
        return call(fd, message, flags);
    ssize_t result = call(fd, copy, flags);
    // What the kernel writes back into the header.
    message->msg_namelen = copy->msg_namelen;
    message->msg_controllen = copy->msg_controllen;
    message->msg_flags = copy->msg_flags;
    return result;
}

ssize_t sendmsg(int fd, const struct msghdr* message, int flags)
{
    static auto call = real<ssize_t (*)(int, const struct msghdr*, int)>("sendmsg");
    Pins pins;
    PinnedMessage pinned;
    msghdr* copy = pin_message(pins, message, pinned, Access::Read);
    return call(fd, copy ? copy : message, flags);
}

} // extern "C"
