#pragma once
// The fast entry to the system-call boundary. A libc function the program calls by name gets
// the boundary's work done in the call itself, without the SIGSYS round trip of Syscall User
// Dispatch: its memory pinned by the same table (fault/syscall_pins.hpp, syscall_table.hpp),
// then libc's own function, whose system call goes to the kernel undiverted. Calls libc makes
// inside itself, and every other way of making a system call, take the diverted path.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <vmemu/fault/syscall_pins.hpp>
#include <vmemu/fault/syscall_user_dispatch.hpp>
#include "runtime.hpp"

namespace vmemu::preload {

// The vectored calls go through write_through_cache() with at most this many buffers.
constexpr std::size_t kMaxVectors = 64;

// One call of system call nr with its arguments: pinned while it lives, and undiverted. A
// transfer the table lets be short (read(2), write(2)) may have had its length cut to what
// could be pinned: length(i) is argument i as the kernel is to get it.
class UserCall {
public:
    template<typename... Arguments>
    explicit UserCall(long nr, Arguments... arguments) noexcept
        : m_arguments { raw(arguments)... }
    {
        static_assert(sizeof...(Arguments) <= 6, "a system call has at most six arguments");
        if (Runtime* state = runtime()) {
            // As vmemu's other entries run: the signals as the program has them.
            m_pins.emplace(*state->space, SyscallPins::Signals::AsTheyAre);
            m_pins->pin_call(nr, m_arguments);
        }
    }
    UserCall(const UserCall&) = delete;
    UserCall& operator=(const UserCall&) = delete;

    std::size_t length(int index) const noexcept { return static_cast<std::size_t>(m_arguments[index]); }

private:
    template<typename T>
    static long raw(T value) noexcept
    {
        if constexpr (std::is_pointer_v<T>)
            return static_cast<long>(reinterpret_cast<std::uintptr_t>(value));
        else if constexpr (std::is_null_pointer_v<T>)
            return 0;
        else
            return static_cast<long>(value);
    }

    SyscallsAllowed m_allowed;
    long m_arguments[6] {};
    std::optional<SyscallPins> m_pins;
};

} // namespace vmemu::preload
