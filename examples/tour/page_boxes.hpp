#pragma once
// What the walk and cow pictures draw for one walk: a table entry or a PTE as a box of text,
// and the page at the end of the walk, in the frame map's colours.
#include <string>
#include "svg.hpp"
#include "tour.hpp"

namespace vmemu::tour {

inline constexpr const char* kLevelTitles[PageTable::kLevels] = { "PGD", "PUD", "PMD", "PTE" };

// The bits of an entry that matter to the reader: "present write accessed dirty".
inline std::string entry_bits(Pte entry)
{
    if (entry.none())
        return "empty";
    if (entry.is_swap())
        return "swap entry";
    std::string bits = entry.present() ? "present" : "not present";
    if (entry.writable())
        bits += " write";
    if (entry.accessed())
        bits += " accessed";
    if (entry.dirty())
        bits += " dirty";
    return bits;
}

inline const char* page_color(const PageWalk& walk)
{
    switch (walk.end) {
    case PageWalk::End::NoTable:
    case PageWalk::End::PteNone: return "#ffffff";
    case PageWalk::End::SwapEntry: return colors::kSwap;
    case PageWalk::End::ZeroPage: return colors::kZero;
    case PageWalk::End::Page:
        return walk.flags & static_cast<std::uint32_t>(PageFlag::SwapCache) ? colors::kSwap : colors::kAnonLight;
    }
    return "#ffffff";
}

// Two lines about the page the walk ends at.
inline std::pair<std::string, std::string> page_lines(const PageWalk& walk)
{
    char first[96];
    char second[96];
    switch (walk.end) {
    case PageWalk::End::NoTable: return { "no page", "a touch faults" };
    case PageWalk::End::PteNone: return { "no page (pte none)", "a touch faults" };
    case PageWalk::End::SwapEntry:
        std::snprintf(first, sizeof first, "in swap: type %u", walk.swap_type);
        std::snprintf(second, sizeof second, "offset %u", walk.swap_offset);
        return { first, second };
    case PageWalk::End::ZeroPage: return { "the zero page", "shared, read-only" };
    case PageWalk::End::Page:
        std::snprintf(first, sizeof first, "frame pfn %#lx", static_cast<unsigned long>(walk.pfn.get()));
        std::snprintf(second, sizeof second, "mapcount %d%s", walk.mapcount,
            walk.flags & static_cast<std::uint32_t>(PageFlag::SwapCache) ? ", swap cache" : "");
        return { first, second };
    }
    return { "", "" };
}

// A box of width w with a bold title and up to two lines, at (x, y); 52 pixels high.
inline void text_box(Svg& svg, double x, double y, double w, const char* fill, const std::string& title,
    const std::string& line1, const std::string& line2 = "", bool dashed = false)
{
    svg.rect(x, y, w, 52, fill, dashed ? "#aaaaaa" : colors::kInk, dashed ? "stroke-dasharray=\"4 3\" rx=\"4\"" : "rx=\"4\"");
    const char* ink = std::string(fill) == colors::kAnon ? "fill=\"#ffffff\"" : "";
    svg.text(x + 8, y + 16, title, "start", std::string("font-weight=\"bold\" ").append(ink).c_str());
    svg.text(x + 8, y + 31, line1, "start", ink);
    if (!line2.empty())
        svg.text(x + 8, y + 45, line2, "start", ink);
}

} // namespace vmemu::tour
