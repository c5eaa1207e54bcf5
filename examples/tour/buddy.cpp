// tour buddy: /proc/buddyinfo, and the kmem:mm_page_alloc and mm_page_free events, while the
// buddy allocator splits a block of 1024 frames down to one page and merges it back. The
// picture draws the blocks of all 2048 frames after each step, free and in use.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>
#include "svg.hpp"
#include "tour.hpp"

namespace vmemu::tour {

namespace {
// The mm_page_alloc and mm_page_free lines of the trace since it started.
std::vector<std::string> page_events()
{
    char* text = nullptr;
    std::size_t size = 0;
    std::FILE* out = open_memstream(&text, &size);
    trace::write_ftrace(out);
    std::fclose(out);
    std::vector<std::string> lines;
    std::istringstream in(std::string(text, size));
    std::free(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.find(" mm_page_alloc: ") != std::string::npos || line.find(" mm_page_free: ") != std::string::npos)
            lines.push_back(line.substr(line.find("mm_page_")));
    }
    return lines;
}

struct Block {
    Pfn head;
    unsigned order;
    bool free;
};

struct Stage {
    std::string title;
    std::vector<Block> blocks; // by pfn
    std::array<std::size_t, BuddyAllocator::kOrders> buddyinfo;
};

// Blocks are drawn with widths that grow with the order, not the size: at scale, an order-0
// block beside an order-10 one would be a thousandth of it.
double block_width(unsigned order)
{
    return 32 + 10.0 * order;
}

void draw_stages(const std::vector<Stage>& stages, const std::string& path)
{
    constexpr double kLabelWidth = 190;
    constexpr double kRow = 64;
    Svg svg;
    svg.heading("the blocks of the 2048 frames after each step, in pfn order (widths grow with the order, not the size)");
    double y = 34;
    for (const Stage& stage : stages) {
        svg.bold(0, y + 18, stage.title);
        double x = kLabelWidth;
        for (const Block& block : stage.blocks) {
            double width = block_width(block.order);
            svg.rect(x, y, width - 3, 28, block.free ? colors::kFree : colors::kAnon, colors::kInk, "rx=\"3\"");
            svg.text(x + (width - 3) / 2, y + 18, "o" + std::to_string(block.order), "middle",
                block.free ? "" : "fill=\"#ffffff\" font-weight=\"bold\"");
            svg.text(x + 1, y + 40, std::to_string(block.head.get()), "start", "font-size=\"9\" fill=\"#666\"");
            x += width;
        }
        std::string counts = "buddyinfo:";
        for (std::size_t count : stage.buddyinfo)
            counts += " " + std::to_string(count);
        svg.text(x + 14, y + 18, counts, "start", "font-family=\"monospace\" font-size=\"11\"");
        y += kRow;
    }
    svg.text(0, y, "Grey: a free block of order o (2^o frames) on free_area[o]; blue: in use. The number under a block "
                   "is its first pfn.");
    svg.text(0, y + 18, "buddyinfo: the free blocks of each order, 0 to 10, as /proc/buddyinfo counts them.");
    svg.write(path);
}
} // namespace

int buddy_chapter(const Options& options)
{
    // No kswapd and no address space: the only allocations are the chapter's own.
    auto machine = make_machine(2048, 0, false);
    PageAllocator& allocator = machine->page_allocator();
    check(trace::start(), "trace");
    std::size_t events_shown = 0;
    std::vector<Block> in_use;
    std::vector<Stage> stages;
    auto step = [&](const char* picture_title, const char* title) {
        Stage stage { picture_title, in_use, allocator.buddy().free_blocks() };
        for (const BuddyAllocator::FreeBlock& block : allocator.buddy().free_block_map())
            stage.blocks.push_back(Block { block.head, block.order, true });
        std::sort(stage.blocks.begin(), stage.blocks.end(), [](const Block& a, const Block& b) { return a.head < b.head; });
        stages.push_back(std::move(stage));
        std::printf("\n== %s\n%s", title, machine->buddyinfo().c_str());
        std::vector<std::string> events = page_events();
        for (; events_shown < events.size(); ++events_shown)
            std::printf("   %s\n", events[events_shown].c_str());
    };
    std::printf("2048 frames: two free blocks of order 10 (1024 frames each). /proc/buddyinfo counts the free\n"
                "blocks of each order, 0 (one frame) to 10, left to right.\n");
    step("at the start", "at the start");

    auto take = [&](std::size_t count) {
        auto pfn = allocator.alloc_contig(count, std::nullopt, ZeroFill::No, MayReclaim::No);
        if (!pfn) {
            std::fprintf(stderr, "tour: the allocation of %zu frames failed\n", count);
            std::exit(1);
        }
        in_use.push_back(Block { *pfn, static_cast<unsigned>(std::countr_zero(count)), false });
        return *pfn;
    };
    auto give_back = [&](Pfn pfn, std::size_t count) {
        allocator.free_contig(pfn, count);
        std::erase_if(in_use, [&](const Block& block) { return block.head == pfn; });
    };
    Pfn one = take(1);
    step("alloc_pages(order 0)", "alloc_pages(order 0): one order-10 block splits in halves down to order 0; one half of each\n"
         "   split stays free, so orders 0 to 9 now have one free block each");
    Pfn two = take(2);
    step("alloc_pages(order 1)", "alloc_pages(order 1): the free order-1 block is taken as it is");
    Pfn four = take(4);
    step("alloc_pages(order 2)", "alloc_pages(order 2): the same, at order 2");
    give_back(two, 2);
    step("__free_pages(order 1)", "__free_pages(order 1): its buddy (the block beside it) is in use, so it stays an order-1 block");
    give_back(one, 1);
    step("__free_pages(order 0)", "__free_pages(order 0): its buddy is free: the two merge, and the result's buddy is the free\n"
         "   order-1 block, and so on up to order 2, where the order-2 block in use stops the merging");
    give_back(four, 4);
    step("__free_pages(order 2)", "__free_pages(order 2): the last one back: the merges go all the way up to order 10");
    trace::stop();
    if (!options.svg.empty())
        draw_stages(stages, options.svg);
    return machine->free_frames() == machine->frame_count() ? 0 : 1;
}

} // namespace vmemu::tour
