#pragma once
#include <cstdint>
#include <vmemu/mm/page_table.hpp>

namespace vmemu {

// What the MMU finds for one address, level by level, and the page at the end: the data of
// AddressSpace::page_walk()'s text, for programs that draw or check it. A snapshot taken
// under the address space's locks; it may be stale as soon as it is returned.
struct PageWalk {
    // Where the walk ended.
    enum class End : std::uint8_t {
        NoTable, // an entry above the PTE level is empty: nothing below it was touched
        PteNone, // the PTE is empty: the next touch faults, and the page comes on demand
        SwapEntry, // the PTE holds a swap entry (swap_type, swap_offset)
        ZeroPage, // the PTE maps the shared zero page
        Page, // the PTE maps a frame (pfn and the page's counts and flags)
    };

    VirtAddr address;
    bool in_vma { false }; // address lies inside a VMA
    unsigned depth { 0 }; // the levels walked, 1..4
    PageTable::WalkStep steps[PageTable::kLevels] {};
    End end { End::NoTable };
    // End::Page: the frame and its struct page's counts and flags (PageFrame::flags).
    Pfn pfn;
    int refcount { 0 };
    int mapcount { 0 };
    std::uint32_t flags { 0 };
    // End::SwapEntry.
    unsigned swap_type { 0 };
    std::uint32_t swap_offset { 0 };

    Pte pte() const { return steps[depth - 1].entry; }
};

} // namespace vmemu
