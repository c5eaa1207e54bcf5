#pragma once
#include <compare>
#include <cstdint>

namespace vmemu {

// A page frame number: the index of a 4 KiB frame in the physical arena (the memfd).
class Pfn {
public:
    constexpr Pfn() = default;
    constexpr explicit Pfn(std::uint64_t value)
        : m_value(value)
    {
    }
    constexpr std::uint64_t get() const { return m_value; }
    constexpr Pfn operator+(std::uint64_t n) const { return Pfn(m_value + n); }
    constexpr Pfn operator-(std::uint64_t n) const { return Pfn(m_value - n); }
    constexpr std::uint64_t operator-(Pfn other) const { return m_value - other.m_value; }
    friend constexpr auto operator<=>(Pfn, Pfn) = default;

private:
    std::uint64_t m_value { 0 };
};

} // namespace vmemu
