#pragma once
// Pins of the program's buffers for the length of one system call (pin_user_pages()), so that
// the kernel finds them mapped under the SIGSEGV fault source. See user_buffers.cpp.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <sys/uio.h>
#include "libc_heap.hpp"
#include "runtime.hpp"

namespace vmemu::preload {

enum class Access : bool { Read, Write };
constexpr std::size_t kMaxPinnedPages = 512; // 2 MiB of buffers per call

// The pins of one call, dropped when it ends.
class Pins {
public:
    ~Pins()
    {
        if (m_count)
            runtime()->space->unpin_user_pages(m_pages, m_count);
    }
    // Pins what it can of [buffer, buffer + bytes), within the room left. Returns the bytes
    // the call may use: all of them outside emulated memory, or the pinned prefix.
    std::size_t pin(const void* buffer, std::size_t bytes, Access access)
    {
        Runtime* state = runtime();
        auto start = reinterpret_cast<std::uintptr_t>(buffer);
        if (bytes == 0 || !in_emulated_memory(buffer))
            return bytes;
        std::size_t room = kMaxPinnedPages - m_count;
        if (room < 2)
            return 0;
        std::size_t offset = start & 4095;
        bytes = std::min(bytes, (room - 1) * 4096 - offset);
        std::size_t wanted = (offset + bytes + 4095) / 4096;
        ScopedLibcAllocations libc_allocations;
        std::size_t pinned = state->space->pin_user_pages(VirtAddr(start), bytes, access == Access::Write, m_pages + m_count);
        m_count += pinned;
        return pinned == wanted ? bytes : pinned * 4096 > offset ? pinned * 4096 - offset : 0;
    }

private:
    PageFrame* m_pages[kMaxPinnedPages];
    std::size_t m_count { 0 };
};

// The vectored calls (readv, writev, recvmsg, sendmsg) take at most kMaxVectors buffers at once.
constexpr std::size_t kMaxVectors = 64;

// Pins the buffers of vector[0, count) (count at most kMaxVectors) and writes them to pinned,
// each as far as it is pinned, up to the first one that could be pinned only in part: the
// transfer stops there, a short one. Returns how many entries pinned holds.
inline std::size_t pin_vectors(Pins& pins, const iovec* vector, std::size_t count, iovec* pinned, Access access)
{
    std::size_t used = 0;
    while (used < count) {
        std::size_t usable = pins.pin(vector[used].iov_base, vector[used].iov_len, access);
        pinned[used] = iovec { vector[used].iov_base, usable };
        if (usable < vector[used++].iov_len)
            break;
    }
    return used;
}

} // namespace vmemu::preload
