#pragma once
#include <cstddef>
#include <cstdint>

namespace vmemu {

inline constexpr unsigned kPageShift = 12;
inline constexpr std::size_t kPageSize = std::size_t { 1 } << kPageShift;
inline constexpr std::uintptr_t kPageMask = ~(std::uintptr_t { kPageSize } - 1);

// The end of the 47-bit user half of x86-64 virtual memory (TASK_SIZE).
inline constexpr std::uintptr_t kUserAddressEnd = std::uintptr_t { 1 } << 47;

constexpr bool is_page_aligned(std::uintptr_t value) { return (value & ~kPageMask) == 0; }
constexpr std::uintptr_t page_round_down(std::uintptr_t value) { return value & kPageMask; }

// Rounds up; returns 0 when the result would not fit, which callers treat as overflow.
constexpr std::uintptr_t page_round_up(std::uintptr_t value)
{
    if (value > UINTPTR_MAX - (kPageSize - 1))
        return 0;
    return (value + kPageSize - 1) & kPageMask;
}

} // namespace vmemu
