// System calls that take buffers of the program's. With the SIGSEGV fault source the kernel
// cannot fault emulated memory in: a read(2) into a page vmemu has not mapped, or whose
// kernel mapping reclaim has taken away to watch its accessed bit, fails with EFAULT. So each
// call pins its buffers first (pin_user_pages()), up to kMaxPinnedPages at a time: a longer
// buffer gets a shorter transfer, as read(2) and write(2) may always give, and the stdio
// calls below loop over it. A call that still fails with EFAULT (another thread unmapped the
// buffer meanwhile) has transferred nothing and is tried again.
// fread() and fwrite() move large requests straight between the file and the program's
// buffer from inside libc, where no wrapper reaches, so they are wrapped too.
// read(2) and write(2) of a file that vmemu maps go by its page cache (file_mappings.hpp).
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "file_mappings.hpp"
#include "libc_heap.hpp"
#include "runtime.hpp"
#include "user_pins.hpp"

namespace vmemu::preload {
namespace {

// Calls call(bytes) with the buffer pinned, again while it fails with EFAULT on a buffer that
// is still being pinned in part at least.
template<typename Call>
ssize_t with_pinned(const void* buffer, std::size_t bytes, Access access, Call call)
{
    for (int attempt = 0;; ++attempt) {
        Pins pins;
        std::size_t usable = bytes ? pins.pin(buffer, bytes, access) : 0;
        ssize_t result = call(usable ? usable : bytes);
        if (result >= 0 || errno != EFAULT || usable == 0 || attempt == 16)
            return result;
    }
}

template<typename Call>
ssize_t with_pinned_vector(const iovec* vector, int count, Access access, Call call)
{
    if (count < 0 || !vector)
        return call(vector, count);
    for (int attempt = 0;; ++attempt) {
        Pins pins;
        iovec pinned[kMaxVectors];
        int used = static_cast<int>(
            pin_vectors(pins, vector, std::min(static_cast<std::size_t>(count), kMaxVectors), pinned, access));
        ssize_t result = call(used == count ? vector : pinned, used == count ? count : used);
        if (result >= 0 || errno != EFAULT || attempt == 16)
            return result;
    }
}

// fread() and fwrite() in pinned pieces; an element split by a piece is still whole in the end.
template<typename Real>
std::size_t stdio_pinned(void* buffer, std::size_t size, std::size_t count, FILE* stream, Access access, Real real)
{
    std::size_t total;
    if (size == 0 || count == 0 || __builtin_mul_overflow(size, count, &total))
        return real(buffer, size, count, stream);
    auto* bytes = static_cast<unsigned char*>(buffer);
    std::size_t done = 0;
    while (done < total) {
        Pins pins;
        std::size_t usable = pins.pin(bytes + done, total - done, access);
        if (usable == 0)
            usable = total - done; // not emulated memory after all, or not mappable: as is
        std::size_t moved = real(bytes + done, 1, usable, stream);
        done += moved;
        if (moved < usable)
            break;
    }
    return done / size;
}

} // namespace
} // namespace vmemu::preload

using namespace vmemu::preload;

#define VMEMU_CALLER __builtin_return_address(0)

extern "C" {

ssize_t read(int fd, void* buffer, std::size_t bytes)
{
    static auto real = next_symbol<ssize_t (*)(int, void*, std::size_t)>("read");
    write_back_before_read([fd] { return fd; }, VMEMU_CALLER);
    return with_pinned(buffer, bytes, Access::Write, [&](std::size_t usable) { return real(fd, buffer, usable); });
}

ssize_t write(int fd, const void* buffer, std::size_t bytes)
{
    static auto real = next_symbol<ssize_t (*)(int, const void*, std::size_t)>("write");
    const void* caller = VMEMU_CALLER;
    return with_pinned(buffer, bytes, Access::Read, [&](std::size_t usable) {
        iovec vector { const_cast<void*>(buffer), usable };
        return write_through_cache(fd, std::nullopt, &vector, 1, caller, [&] { return real(fd, buffer, usable); });
    });
}

ssize_t pread(int fd, void* buffer, std::size_t bytes, off_t offset)
{
    static auto real = next_symbol<ssize_t (*)(int, void*, std::size_t, off_t)>("pread");
    write_back_before_read([fd] { return fd; }, VMEMU_CALLER);
    return with_pinned(buffer, bytes, Access::Write, [&](std::size_t usable) { return real(fd, buffer, usable, offset); });
}
ssize_t pread64(int fd, void* buffer, std::size_t bytes, off_t offset) { return pread(fd, buffer, bytes, offset); }

ssize_t pwrite(int fd, const void* buffer, std::size_t bytes, off_t offset)
{
    static auto real = next_symbol<ssize_t (*)(int, const void*, std::size_t, off_t)>("pwrite");
    const void* caller = VMEMU_CALLER;
    return with_pinned(buffer, bytes, Access::Read, [&](std::size_t usable) {
        iovec vector { const_cast<void*>(buffer), usable };
        return write_through_cache(fd, offset, &vector, 1, caller, [&] { return real(fd, buffer, usable, offset); });
    });
}
ssize_t pwrite64(int fd, const void* buffer, std::size_t bytes, off_t offset) { return pwrite(fd, buffer, bytes, offset); }

ssize_t readv(int fd, const iovec* vector, int count)
{
    static auto real = next_symbol<ssize_t (*)(int, const iovec*, int)>("readv");
    write_back_before_read([fd] { return fd; }, VMEMU_CALLER);
    return with_pinned_vector(vector, count, Access::Write, [&](const iovec* v, int n) { return real(fd, v, n); });
}

ssize_t writev(int fd, const iovec* vector, int count)
{
    static auto real = next_symbol<ssize_t (*)(int, const iovec*, int)>("writev");
    const void* caller = VMEMU_CALLER;
    return with_pinned_vector(vector, count, Access::Read, [&](const iovec* v, int n) {
        return write_through_cache(fd, std::nullopt, v, n, caller, [&] { return real(fd, v, n); });
    });
}

ssize_t recv(int fd, void* buffer, std::size_t bytes, int flags)
{
    static auto real = next_symbol<ssize_t (*)(int, void*, std::size_t, int)>("recv");
    return with_pinned(buffer, bytes, Access::Write, [&](std::size_t usable) { return real(fd, buffer, usable, flags); });
}

ssize_t send(int fd, const void* buffer, std::size_t bytes, int flags)
{
    static auto real = next_symbol<ssize_t (*)(int, const void*, std::size_t, int)>("send");
    return with_pinned(buffer, bytes, Access::Read, [&](std::size_t usable) { return real(fd, buffer, usable, flags); });
}

ssize_t recvfrom(int fd, void* buffer, std::size_t bytes, int flags, sockaddr* from, socklen_t* length)
{
    static auto real = next_symbol<ssize_t (*)(int, void*, std::size_t, int, sockaddr*, socklen_t*)>("recvfrom");
    return with_pinned(buffer, bytes, Access::Write,
        [&](std::size_t usable) { return real(fd, buffer, usable, flags, from, length); });
}

ssize_t sendto(int fd, const void* buffer, std::size_t bytes, int flags, const sockaddr* to, socklen_t length)
{
    static auto real = next_symbol<ssize_t (*)(int, const void*, std::size_t, int, const sockaddr*, socklen_t)>("sendto");
    return with_pinned(buffer, bytes, Access::Read,
        [&](std::size_t usable) { return real(fd, buffer, usable, flags, to, length); });
}

std::size_t fread(void* buffer, std::size_t size, std::size_t count, FILE* stream)
{
    static auto real = next_symbol<std::size_t (*)(void*, std::size_t, std::size_t, FILE*)>("fread");
    if (stream)
        write_back_before_read([stream] { return fileno(stream); }, VMEMU_CALLER);
    return stdio_pinned(buffer, size, count, stream, Access::Write, real);
}

std::size_t fread_unlocked(void* buffer, std::size_t size, std::size_t count, FILE* stream)
{
    static auto real = next_symbol<std::size_t (*)(void*, std::size_t, std::size_t, FILE*)>("fread_unlocked");
    if (stream)
        write_back_before_read([stream] { return fileno(stream); }, VMEMU_CALLER);
    return stdio_pinned(buffer, size, count, stream, Access::Write, real);
}

std::size_t fwrite(const void* buffer, std::size_t size, std::size_t count, FILE* stream)
{
    static auto real = next_symbol<std::size_t (*)(const void*, std::size_t, std::size_t, FILE*)>("fwrite");
    auto call = [](void* b, std::size_t s, std::size_t c, FILE* f) { return real(b, s, c, f); };
    return stdio_pinned(const_cast<void*>(buffer), size, count, stream, Access::Read, call);
}

std::size_t fwrite_unlocked(const void* buffer, std::size_t size, std::size_t count, FILE* stream)
{
    static auto real = next_symbol<std::size_t (*)(const void*, std::size_t, std::size_t, FILE*)>("fwrite_unlocked");
    auto call = [](void* b, std::size_t s, std::size_t c, FILE* f) { return real(b, s, c, f); };
    return stdio_pinned(const_cast<void*>(buffer), size, count, stream, Access::Read, call);
}

} // extern "C"
