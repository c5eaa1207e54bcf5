// tour cow: a written page shared by parent and child after fork, read-only in both, and
// copied when the child writes it (do_wp_page()); the parent's copy becomes its own again.
// The picture draws the two PTEs and the frames they map at each step.
#include <sys/mman.h>
#include <vector>
#include "page_boxes.hpp"

namespace vmemu::tour {

namespace {
struct Stage {
    std::string title;
    PageWalk parent;
    std::optional<PageWalk> child;
    std::vector<std::pair<Pfn, char>> frames; // the frames mapped, and the byte each holds
};

std::string pte_line(const PageWalk& walk)
{
    if (walk.depth < PageTable::kLevels || walk.pte().none())
        return "none";
    char line[64];
    std::snprintf(line, sizeof line, "pfn %#lx, %s", static_cast<unsigned long>(walk.pte().pfn().get()),
        walk.pte().writable() ? "writable" : "read-only");
    return line;
}

void draw_stages(const std::vector<Stage>& stages, const std::string& path)
{
    constexpr double kLabelWidth = 200;
    constexpr double kPteBox = 170;
    constexpr double kFrameX = kLabelWidth + kPteBox + 110;
    constexpr double kRow = 140;
    Svg svg;
    svg.heading("one page of a private mapping through fork(): the PTEs of parent and child, and the frames they map");
    double y = 36;
    for (const Stage& stage : stages) {
        svg.bold(0, y + 30, stage.title);
        double frame_y[2] = { y, y + 62 };
        auto frame_row = [&](Pfn pfn) {
            for (std::size_t i = 0; i < stage.frames.size(); ++i) {
                if (stage.frames[i].first == pfn)
                    return frame_y[i];
            }
            return frame_y[0];
        };
        for (std::size_t i = 0; i < stage.frames.size(); ++i) {
            auto [pfn, byte] = stage.frames[i];
            const PageWalk& owner = stage.parent.pfn == pfn ? stage.parent : *stage.child;
            char title[48];
            char line[48];
            std::snprintf(title, sizeof title, "frame pfn %#lx", static_cast<unsigned long>(pfn.get()));
            std::snprintf(line, sizeof line, "mapcount %d, holds '%c'", owner.mapcount, byte);
            text_box(svg, kFrameX, frame_y[i], 180, owner.mapcount > 1 ? colors::kAnonLight : "#dbeaf5", title, line);
        }
        auto pte_box = [&](const char* who, const PageWalk& walk, double box_y) {
            bool writable = walk.pte().writable();
            text_box(svg, kLabelWidth, box_y, kPteBox, writable ? "#ffffff" : "#fde2d0",
                std::string(who) + "'s PTE", pte_line(walk), writable ? "" : "a write faults");
            if (walk.end == PageWalk::End::Page)
                svg.arrow(kLabelWidth + kPteBox, box_y + 26, kFrameX - 1, frame_row(walk.pfn) + 26);
        };
        pte_box("the parent", stage.parent, y);
        if (stage.child)
            pte_box("the child", *stage.child, y + 62);
        y += stage.child ? kRow : kRow - 62;
    }
    svg.text(0, y, "Orange PTE: write-protected, so the next write is a fault (do_wp_page()). Darker frame: shared, "
                        "mapcount 2.");
    svg.write(path);
}
} // namespace

int cow_chapter(const Options& options)
{
    auto machine = make_machine(1024, 0, false);
    TraceRecording recording(*machine, options);
    auto parent = check(machine->create_address_space(), "address space");
    constexpr std::size_t kLength = 16 * kPageSize;
    VirtAddr region = check(parent->mmap(VirtAddr(), kLength, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS), "mmap");
    VirtAddr address = region.offset(3 * kPageSize);
    *address.ptr<char>() = 'P';
    std::printf("== the parent wrote 'P': its page is its own (mapcount 1, writable)\n%s", parent->page_walk(address).c_str());

    std::vector<Stage> stages;
    auto snapshot = [&](const char* title, const AddressSpace* child, VirtAddr child_address) {
        Stage stage { title, parent->walk_page(address), std::nullopt, {} };
        if (child)
            stage.child = child->walk_page(child_address);
        // Through the direct map, as vmemu itself touches frames: reading through the mappings
        // would set their accessed bits.
        auto add_frame = [&](const PageWalk& walk) {
            if (walk.end != PageWalk::End::Page)
                return;
            for (auto& frame : stage.frames) {
                if (frame.first == walk.pfn)
                    return;
            }
            char byte = static_cast<char>(*machine->arena().direct_map(walk.pfn));
            stage.frames.emplace_back(walk.pfn, byte);
        };
        add_frame(stage.parent);
        if (stage.child)
            add_frame(*stage.child);
        stages.push_back(std::move(stage));
    };
    snapshot("the parent writes 'P'", nullptr, VirtAddr());

    auto before = vmstat_values(*machine);
    auto child = check(parent->fork(), "fork");
    // The child's VMAs lie at the parent's offsets in the child's own reservation.
    VirtAddr child_address = child->reservation_start().offset(address - parent->reservation_start());
    auto print_walks = [&] {
        std::printf("-- the parent's walk\n%s-- the child's walk\n%s", parent->page_walk(address).c_str(),
            child->page_walk(child_address).c_str());
    };
    std::printf("\n== fork(): no page is copied. Both PTEs map the same frame, write-protected (no 'write' bit), and\n"
                "   its mapcount is 2. vmstat:\n");
    print_vmstat_changes(before, *machine);
    print_walks();
    snapshot("after fork()", child.get(), child_address);

    before = vmstat_values(*machine);
    *child_address.ptr<char>() = 'C';
    std::printf("\n== the child writes 'C': a write fault on a write-protected PTE (cow_fault). The child gets a\n"
                "   copy in a new frame, writable; the parent's PTE still maps the old frame, now mapcount 1. vmstat:\n");
    print_vmstat_changes(before, *machine);
    print_walks();
    snapshot("the child writes 'C'", child.get(), child_address);

    before = vmstat_values(*machine);
    *address.ptr<char>() = 'Q';
    std::printf("\n== the parent writes 'Q': its page is mapped once now, so the write fault reuses it in place, no\n"
                "   copy (the PTE gets its write bit back). vmstat:\n");
    print_vmstat_changes(before, *machine);
    std::printf("-- the parent's walk\n%s", parent->page_walk(address).c_str());
    snapshot("the parent writes 'Q'", child.get(), child_address);
    char in_parent = *address.ptr<char>();
    char in_child = *child_address.ptr<char>();
    std::printf("\nthe parent reads '%c', the child '%c'\n", in_parent, in_child);
    child.reset();
    if (!options.svg.empty())
        draw_stages(stages, options.svg);
    return in_parent == 'Q' && in_child == 'C' ? 0 : 1;
}

} // namespace vmemu::tour
