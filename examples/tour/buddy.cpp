// tour buddy: /proc/buddyinfo, and the kmem:mm_page_alloc and mm_page_free events, while the
// buddy allocator splits a block of 1024 frames down to one page and merges it back.
#include <cstdint>
#include <vector>
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
} // namespace

int buddy_chapter(const Options& options)
{
    // No kswapd and no address space: the only allocations are the chapter's own.
    auto machine = make_machine(2048, 0, false);
    PageAllocator& allocator = machine->page_allocator();
    check(trace::start(), "trace");
    std::size_t events_shown = 0;
    auto step = [&](const char* title) {
        std::printf("\n== %s\n%s", title, machine->buddyinfo().c_str());
        std::vector<std::string> events = page_events();
        for (; events_shown < events.size(); ++events_shown)
            std::printf("   %s\n", events[events_shown].c_str());
    };
    std::printf("2048 frames: two free blocks of order 10 (1024 frames each). /proc/buddyinfo counts the free\n"
                "blocks of each order, 0 (one frame) to 10, left to right.\n");
    step("at the start");

    auto take = [&](std::size_t count) {
        auto pfn = allocator.alloc_contig(count, std::nullopt, ZeroFill::No, MayReclaim::No);
        if (!pfn) {
            std::fprintf(stderr, "tour: the allocation of %zu frames failed\n", count);
            std::exit(1);
        }
        return *pfn;
    };
    Pfn one = take(1);
    step("alloc_pages(order 0): one order-10 block splits in halves down to order 0; one half of each\n"
         "   split stays free, so orders 0 to 9 now have one free block each");
    Pfn two = take(2);
    step("alloc_pages(order 1): the free order-1 block is taken as it is");
    Pfn four = take(4);
    step("alloc_pages(order 2): the same, at order 2");
    allocator.free_contig(two, 2);
    step("__free_pages(order 1): its buddy (the block beside it) is in use, so it stays an order-1 block");
    allocator.free_contig(one, 1);
    step("__free_pages(order 0): its buddy is free: the two merge, and the result's buddy is the free\n"
         "   order-1 block, and so on up to order 2, where the order-2 block in use stops the merging");
    allocator.free_contig(four, 4);
    step("__free_pages(order 2): the last one back: the merges go all the way up to order 10");
    trace::stop();
    (void)options;
    return machine->free_frames() == machine->frame_count() ? 0 : 1;
}

} // namespace vmemu::tour
