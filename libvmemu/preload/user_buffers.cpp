// The transfers between files or sockets and the program's buffers, at the fast entry to the
// system-call boundary (user_call.hpp): each call pins its buffers, up to the pins' limit, and
// a longer buffer gets a shorter transfer, as read(2) and write(2) may always give.
// read(2) and write(2) of a file that vmemu maps go by its page cache (file_mappings.hpp).
#include <cstdio>
#include <optional>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include "file_mappings.hpp"
#include "libc_heap.hpp"
#include "runtime.hpp"
#include "user_call.hpp"

using namespace vmemu::preload;

#define VMEMU_CALLER __builtin_return_address(0)

extern "C" {

// fflush() of a stream on a file descriptor: the write(2) of its pending bytes, which libc
// makes from inside itself, pinned here instead of diverted. The bytes are in libc's heap or in
// a buffer the program gave setvbuf(); the stream is locked meanwhile, so that no other thread
// moves them. fflush(NULL), a stream of memory or of the program's own functions (fmemopen,
// fopencookie: no descriptor) and pending bytes beyond the pins' limit take the diverted path,
// which pins each call the flush makes.
int fflush(FILE* stream)
{
    static auto real = next_symbol<int (*)(FILE*)>("fflush");
    if (!stream)
        return real(stream);
    flockfile(stream);
    std::optional<UserCall> call;
    int fd = fileno_unlocked(stream);
    if (fd >= 0) {
        std::size_t pending = stream->_IO_write_ptr > stream->_IO_write_base
            ? static_cast<std::size_t>(stream->_IO_write_ptr - stream->_IO_write_base)
            : 0;
        call.emplace(SYS_write, fd, stream->_IO_write_base, pending);
        if (call->length(2) < pending)
            call.reset();
    }
    int result = real(stream);
    call.reset();
    funlockfile(stream);
    return result;
}

ssize_t read(int fd, void* buffer, std::size_t bytes)
{
    static auto real = next_symbol<ssize_t (*)(int, void*, std::size_t)>("read");
    write_back_before_read([fd] { return fd; }, VMEMU_CALLER);
    UserCall call(SYS_read, fd, buffer, bytes);
    return real(fd, buffer, call.length(2));
}

ssize_t write(int fd, const void* buffer, std::size_t bytes)
{
    static auto real = next_symbol<ssize_t (*)(int, const void*, std::size_t)>("write");
    UserCall call(SYS_write, fd, buffer, bytes);
    iovec vector { const_cast<void*>(buffer), call.length(2) };
    return write_through_cache(fd, std::nullopt, &vector, 1, VMEMU_CALLER,
        [&] { return real(fd, buffer, call.length(2)); });
}

ssize_t pread(int fd, void* buffer, std::size_t bytes, off_t offset)
{
    static auto real = next_symbol<ssize_t (*)(int, void*, std::size_t, off_t)>("pread");
    write_back_before_read([fd] { return fd; }, VMEMU_CALLER);
    UserCall call(SYS_pread64, fd, buffer, bytes, offset);
    return real(fd, buffer, call.length(2), offset);
}
ssize_t pread64(int fd, void* buffer, std::size_t bytes, off_t offset) { return pread(fd, buffer, bytes, offset); }

ssize_t pwrite(int fd, const void* buffer, std::size_t bytes, off_t offset)
{
    static auto real = next_symbol<ssize_t (*)(int, const void*, std::size_t, off_t)>("pwrite");
    UserCall call(SYS_pwrite64, fd, buffer, bytes, offset);
    iovec vector { const_cast<void*>(buffer), call.length(2) };
    return write_through_cache(fd, offset, &vector, 1, VMEMU_CALLER,
        [&] { return real(fd, buffer, call.length(2), offset); });
}
ssize_t pwrite64(int fd, const void* buffer, std::size_t bytes, off_t offset) { return pwrite(fd, buffer, bytes, offset); }

ssize_t readv(int fd, const iovec* vector, int count)
{
    static auto real = next_symbol<ssize_t (*)(int, const iovec*, int)>("readv");
    write_back_before_read([fd] { return fd; }, VMEMU_CALLER);
    UserCall call(SYS_readv, fd, vector, count);
    return real(fd, vector, static_cast<int>(call.length(2)));
}

ssize_t writev(int fd, const iovec* vector, int count)
{
    static auto real = next_symbol<ssize_t (*)(int, const iovec*, int)>("writev");
    UserCall call(SYS_writev, fd, vector, count);
    int pinned = static_cast<int>(call.length(2));
    return write_through_cache(fd, std::nullopt, vector, pinned, VMEMU_CALLER, [&] { return real(fd, vector, pinned); });
}

ssize_t recv(int fd, void* buffer, std::size_t bytes, int flags)
{
    static auto real = next_symbol<ssize_t (*)(int, void*, std::size_t, int)>("recv");
    UserCall call(SYS_recvfrom, fd, buffer, bytes, flags, nullptr, nullptr);
    return real(fd, buffer, call.length(2), flags);
}

ssize_t send(int fd, const void* buffer, std::size_t bytes, int flags)
{
    static auto real = next_symbol<ssize_t (*)(int, const void*, std::size_t, int)>("send");
    UserCall call(SYS_sendto, fd, buffer, bytes, flags, nullptr, 0);
    return real(fd, buffer, call.length(2), flags);
}

ssize_t recvfrom(int fd, void* buffer, std::size_t bytes, int flags, sockaddr* from, socklen_t* length)
{
    static auto real = next_symbol<ssize_t (*)(int, void*, std::size_t, int, sockaddr*, socklen_t*)>("recvfrom");
    UserCall call(SYS_recvfrom, fd, buffer, bytes, flags, from, length);
    return real(fd, buffer, call.length(2), flags, from, length);
}

ssize_t sendto(int fd, const void* buffer, std::size_t bytes, int flags, const sockaddr* to, socklen_t length)
{
    static auto real = next_symbol<ssize_t (*)(int, const void*, std::size_t, int, const sockaddr*, socklen_t)>("sendto");
    UserCall call(SYS_sendto, fd, buffer, bytes, flags, to, length);
    return real(fd, buffer, call.length(2), flags, to, length);
}

} // extern "C"
