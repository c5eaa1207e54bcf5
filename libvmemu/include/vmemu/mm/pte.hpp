#pragma once
#include <cstdint>
#include <vmemu/base/pfn.hpp>
#include <vmemu/swap/swap_entry.hpp>

namespace vmemu {

// A page-table entry in the x86-64 layout: hardware bits present, write, user, accessed,
// dirty; the frame number in bits 12..51; and four bits recording what the hardware view, the
// real kernel's mapping, currently grants, and whether it holds the page through userfaultfd
// (the page's bytes then live in the reservation, not in the frame) or as a mapping of the
// frame's memfd page: 9, 10 and 11, which the hardware leaves to software, and 8 (global,
// which user pages never set). A swap PTE uses none of them.
// Invariant: hw_mapped() implies present() and accessed(), and hw_writable() implies
// writable(): the hardware view is never more permissive than the PTE, and a page without its
// accessed bit is kept out of the hardware view, so that its next touch sets the bit.
// A swap PTE is not present and carries the swap entry (the slot, bits 12..43) and the
// workingset shadow of the eviction (bits 44..61), as Linux keeps shadows for evicted pages.
class Pte {
public:
    static constexpr std::uint64_t kPresent = 1u << 0;
    static constexpr std::uint64_t kWrite = 1u << 1;
    static constexpr std::uint64_t kUser = 1u << 2;
    static constexpr std::uint64_t kAccessed = 1u << 5;
    static constexpr std::uint64_t kDirty = 1u << 6;
    static constexpr std::uint64_t kHwMapped = 1u << 9;
    static constexpr std::uint64_t kHwWrite = 1u << 10;
    static constexpr std::uint64_t kHwExec = 1u << 11;
    static constexpr std::uint64_t kHwUserfault = 1u << 8;
    static constexpr std::uint64_t kHwBits = kHwMapped | kHwWrite | kHwExec | kHwUserfault;
    // Not present: a fault of another thread is mapping the page (the userfaultfd view copies
    // a new page in without the page_table_lock); faults on it retry.
    static constexpr std::uint64_t kPending = 1u << 7;
    static constexpr std::uint64_t kPfnMask = ((std::uint64_t { 1 } << 52) - 1) & ~std::uint64_t { 0xfff };
    static constexpr std::uint64_t kSwap = std::uint64_t { 1 } << 62;
    static constexpr unsigned kSwapOffsetShift = 12;
    static constexpr unsigned kShadowShift = 44;
    static constexpr unsigned kShadowBits = 18;
    static constexpr std::uint64_t kShadowMask = (std::uint64_t { 1 } << kShadowBits) - 1;

    constexpr Pte() = default;
    constexpr explicit Pte(std::uint64_t raw)
        : m_raw(raw)
    {
    }
    static constexpr Pte make(Pfn pfn, std::uint64_t bits) { return Pte((pfn.get() << 12) | bits); }
    static constexpr Pte make_swap(SwapEntry entry, std::uint64_t shadow)
    {
        return Pte(kSwap | (std::uint64_t { entry.offset() } << kSwapOffsetShift) | ((shadow & kShadowMask) << kShadowShift)
            | (std::uint64_t { entry.type() & 31 } << 1));
    }

    constexpr std::uint64_t raw() const { return m_raw; }
    constexpr bool none() const { return m_raw == 0; }
    constexpr bool present() const { return m_raw & kPresent; }
    constexpr bool writable() const { return m_raw & kWrite; }
    constexpr bool accessed() const { return m_raw & kAccessed; }
    constexpr bool dirty() const { return m_raw & kDirty; }
    constexpr bool hw_mapped() const { return m_raw & kHwMapped; }
    constexpr bool hw_writable() const { return m_raw & kHwWrite; }
    constexpr bool hw_userfault() const { return m_raw & kHwUserfault; }
    constexpr Pfn pfn() const { return Pfn((m_raw & kPfnMask) >> 12); }
    constexpr bool pending() const { return m_raw == kPending; }
    constexpr bool is_swap() const { return !present() && (m_raw & kSwap); }
    constexpr SwapEntry swap_entry() const
    {
        return SwapEntry(static_cast<std::uint32_t>((m_raw >> 1) & 31), static_cast<std::uint32_t>(m_raw >> kSwapOffsetShift));
    }
    constexpr std::uint64_t shadow() const { return (m_raw >> kShadowShift) & kShadowMask; }

    constexpr Pte with(std::uint64_t bits) const { return Pte(m_raw | bits); }
    constexpr Pte without(std::uint64_t bits) const { return Pte(m_raw & ~bits); }

    friend constexpr bool operator==(Pte, Pte) = default;

private:
    std::uint64_t m_raw { 0 };
};

} // namespace vmemu
