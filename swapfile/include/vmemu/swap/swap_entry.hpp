#pragma once
#include <compare>
#include <cstdint>

namespace vmemu {

// A swap entry, Linux's swp_entry_t: which swap device (type) and which page slot of it
// (offset). Slot 0 of every device holds the header and is never an entry.
class SwapEntry {
public:
    constexpr SwapEntry() = default;
    constexpr SwapEntry(std::uint32_t type, std::uint32_t offset)
        : m_type(type)
        , m_offset(offset)
    {
    }
    constexpr std::uint32_t type() const { return m_type; }
    constexpr std::uint32_t offset() const { return m_offset; }
    constexpr bool valid() const { return m_offset != 0; }
    friend constexpr auto operator<=>(SwapEntry, SwapEntry) = default;

private:
    std::uint32_t m_type { 0 };
    std::uint32_t m_offset { 0 };
};

} // namespace vmemu
