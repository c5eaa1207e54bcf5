#pragma once
#include <compare>
#include <cstdint>
#include <vmemu/base/page.hpp>

namespace vmemu {

// An address in emulated virtual memory. vmemu code never dereferences one: it reaches frames
// through the direct map only. ptr() exists for the application side of the API.
class VirtAddr {
public:
    constexpr VirtAddr() = default;
    constexpr explicit VirtAddr(std::uintptr_t value)
        : m_value(value)
    {
    }
    explicit VirtAddr(const void* pointer)
        : m_value(reinterpret_cast<std::uintptr_t>(pointer))
    {
    }

    constexpr std::uintptr_t get() const { return m_value; }
    template<typename T = void>
    T* ptr() const { return reinterpret_cast<T*>(m_value); }

    constexpr bool is_page_aligned() const { return vmemu::is_page_aligned(m_value); }
    constexpr VirtAddr page_base() const { return VirtAddr(page_round_down(m_value)); }
    constexpr VirtAddr offset(std::uintptr_t bytes) const { return VirtAddr(m_value + bytes); }
    constexpr VirtAddr page_offset(std::int64_t pages) const
    {
        return VirtAddr(m_value + static_cast<std::uintptr_t>(pages * static_cast<std::int64_t>(kPageSize)));
    }
    constexpr std::uintptr_t operator-(VirtAddr other) const { return m_value - other.m_value; }

    // The virtual page number, as the page-table walk uses it.
    constexpr std::uint64_t vpn() const { return m_value >> kPageShift; }

    friend constexpr auto operator<=>(VirtAddr, VirtAddr) = default;

private:
    std::uintptr_t m_value { 0 };
};

// Number of whole pages in [start, end); both ends page-aligned.
constexpr std::size_t pages_between(VirtAddr start, VirtAddr end) { return (end - start) >> kPageShift; }

} // namespace vmemu
