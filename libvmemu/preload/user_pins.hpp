#pragma once
// Pins of the program's buffers for the length of one system call (pin_user_pages()), so that
// the kernel finds them mapped under the SIGSEGV fault source. See user_buffers.cpp.
#include <algorithm>
#include <cstddef>
#include <cstdint>
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
        if (!state || bytes == 0 || !state->space->in_reservation(VirtAddr(start)))
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

} // namespace vmemu::preload
