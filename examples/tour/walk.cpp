// tour walk: one address of an anonymous mapping, walked through the page table before it is
// touched, after a read (the zero page), after a write (a frame of its own), after
// madvise(MADV_PAGEOUT) (a swap entry) and after the next read (back from swap). The picture
// draws the five walks one under the other.
#include <sys/mman.h>
#include <vector>
#include "page_boxes.hpp"

namespace vmemu::tour {

namespace {
struct Stage {
    const char* title;
    PageWalk walk;
};

void draw_walks(const std::vector<Stage>& stages, const std::string& path)
{
    constexpr double kLabelWidth = 170;
    constexpr double kColumn = 205;
    constexpr double kBox = 180;
    constexpr double kRow = 72;
    Svg svg;
    VirtAddr address = stages.front().walk.address;
    char heading[160];
    std::snprintf(heading, sizeof heading, "the walk of %#lx: pgd %u, pud %u, pmd %u, pte %u, byte %#lx of the page",
        static_cast<unsigned long>(address.get()), PageTable::index_of(address, 0), PageTable::index_of(address, 1),
        PageTable::index_of(address, 2), PageTable::index_of(address, 3),
        static_cast<unsigned long>(address.get() & (kPageSize - 1)));
    svg.heading(heading);
    for (unsigned level = 0; level < PageTable::kLevels; ++level)
        svg.text(kLabelWidth + level * kColumn + kBox / 2, 44, std::string(kLevelTitles[level]) + " table", "middle");
    svg.text(kLabelWidth + PageTable::kLevels * kColumn + kBox / 2 + 10, 44, "the page", "middle");
    double y = 56;
    for (const Stage& stage : stages) {
        const PageWalk& walk = stage.walk;
        svg.bold(0, y + 30, stage.title);
        for (unsigned level = 0; level < PageTable::kLevels; ++level) {
            double x = kLabelWidth + level * kColumn;
            if (level >= walk.depth) {
                text_box(svg, x, y, kBox, "#ffffff", kLevelTitles[level], "no table yet", "", true);
                continue;
            }
            const PageTable::WalkStep& step = walk.steps[level];
            char title[32];
            char table[48];
            std::snprintf(title, sizeof title, "%s[%u]", kLevelTitles[level], step.index);
            std::snprintf(table, sizeof table, "table at pfn %#lx", static_cast<unsigned long>(step.table.get()));
            text_box(svg, x, y, kBox, "#f6e4ef", title, table, entry_bits(step.entry));
            if (level > 0)
                svg.arrow(x - kColumn + kBox, y + 26, x - 1, y + 26);
        }
        double page_x = kLabelWidth + PageTable::kLevels * kColumn + 10;
        auto [line1, line2] = page_lines(walk);
        bool reached = walk.end == PageWalk::End::Page || walk.end == PageWalk::End::ZeroPage
            || walk.end == PageWalk::End::SwapEntry;
        text_box(svg, page_x, y, 170, page_color(walk), line1, line2, "", !reached);
        if (reached) {
            svg.arrow(page_x - kColumn + kBox - 10, y + 26, page_x - 1, y + 26,
                walk.end == PageWalk::End::SwapEntry ? colors::kSwap : colors::kInk,
                walk.end == PageWalk::End::SwapEntry ? "stroke-dasharray=\"5 3\"" : "");
        }
        y += kRow;
    }
    svg.text(0, y + 8,
        "Each table is one frame of 512 entries; the address's 9-bit indexes pick one entry per level. "
        "Pink: page-table frames; blue: an anonymous page; green: in swap or the swap cache; yellow: the zero page.");
    svg.write(path);
}
} // namespace

int walk_chapter(const Options& options)
{
    auto machine = make_machine(1024, std::size_t { 16 } << 20, false);
    TraceRecording recording(*machine, options);
    auto space = check(machine->create_address_space(), "address space");
    constexpr std::size_t kLength = 64 * kPageSize;
    VirtAddr region = check(space->mmap(VirtAddr(), kLength, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS), "mmap");
    VirtAddr address = region.offset(5 * kPageSize + 0x2a0);
    auto* byte = address.ptr<volatile char>();
    std::vector<Stage> stages;
    auto show = [&](const char* title, const std::string& heading) {
        stages.push_back(Stage { title, space->walk_page(address) });
        std::printf("%s\n%s", heading.c_str(), space->page_walk(address).c_str());
    };

    std::printf("== /proc/self/maps: the VMA of the mmap(2), 64 pages, none of them touched\n%s\n", space->maps().c_str());
    char heading[64];
    std::snprintf(heading, sizeof heading, "== the walk of %#lx before any touch", static_cast<unsigned long>(address.get()));
    show("before any touch", heading);
    char seen = *byte;
    show("after a read", "\n== after a read (it saw " + std::to_string(seen)
            + "): the PTE maps the shared zero page, read-only");
    *byte = 'x';
    show("after a write", "\n== after a write: a zeroed frame of its own, on the LRU");
    check(space->madvise(address.page_base(), kPageSize, MADV_PAGEOUT), "madvise");
    machine->wait_for_swap_io();
    show("after MADV_PAGEOUT",
        "\n== after madvise(MADV_PAGEOUT): the frame is written to swap and freed; the PTE keeps the swap entry");
    seen = *byte;
    show("after the next read",
        std::string("\n== after the next read (it saw '") + seen
            + "'): a major fault read the page back into a free frame, which\n"
              "   stays in the swap cache until it is written again");
    check(space->munmap(region, kLength), "munmap");
    if (!options.svg.empty())
        draw_walks(stages, options.svg);
    return seen == 'x' ? 0 : 1;
}

} // namespace vmemu::tour
