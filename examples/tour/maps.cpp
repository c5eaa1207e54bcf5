// tour maps: VMAs as mmap(2), mprotect(2) and munmap(2) make, split, punch and merge them, and
// the pages inside them as touches bring them in. Each step prints /proc/self/maps and the
// picture draws the 16 pages of the region under each step, with the VMAs beneath them.
#include <sys/mman.h>
#include <vector>
#include "page_boxes.hpp"

namespace vmemu::tour {

namespace {
constexpr std::size_t kPages = 16;

// One line of /proc/PID/maps, the part the picture needs.
struct MapsLine {
    std::uintptr_t start;
    std::uintptr_t end;
    std::string perms;
};

std::vector<MapsLine> parse_maps(const std::string& maps)
{
    std::vector<MapsLine> lines;
    std::istringstream in(maps);
    std::string line;
    while (std::getline(in, line)) {
        MapsLine entry {};
        char perms[5] = {};
        if (std::sscanf(line.c_str(), "%lx-%lx %4s", &entry.start, &entry.end, perms) == 3) {
            entry.perms = perms;
            lines.push_back(entry);
        }
    }
    return lines;
}

struct Stage {
    std::string title;
    std::vector<MapsLine> vmas;
    std::vector<PageWalk> pages; // one walk per page of the region
};

const char* vma_color(const std::string& perms)
{
    if (perms.compare(0, 3, "---") == 0)
        return "#eeeeee";
    if (perms[1] == 'w')
        return "#dbeaf5";
    return "#fbf3d0";
}

void draw_stages(const std::vector<Stage>& stages, VirtAddr region, const std::string& path)
{
    constexpr double kLabelWidth = 290;
    constexpr double kCell = 42;
    constexpr double kRow = 96;
    Svg svg;
    svg.heading("16 pages of one region, step by step: the pages (top) and the VMAs that cover them (below)");
    for (std::size_t page = 0; page < kPages; page += 4) {
        char label[32];
        std::snprintf(label, sizeof label, "+%#lx", static_cast<unsigned long>(page * kPageSize));
        svg.text(kLabelWidth + page * kCell, 40, label, "start", "font-size=\"10\" fill=\"#666\"");
    }
    double y = 50;
    std::uintptr_t base = region.get();
    auto x_of = [&](std::uintptr_t address) {
        return kLabelWidth + static_cast<double>(address - base) / kPageSize * kCell;
    };
    for (const Stage& stage : stages) {
        svg.bold(0, y + 16, stage.title);
        for (std::size_t page = 0; page < kPages; ++page) {
            const PageWalk& walk = stage.pages[page];
            double x = kLabelWidth + page * kCell;
            if (!walk.in_vma) {
                svg.rect(x + 2, y, kCell - 4, 26, "#ffffff", "#bbbbbb", "stroke-dasharray=\"3 3\"");
                continue;
            }
            svg.rect(x + 2, y, kCell - 4, 26, page_color(walk), colors::kInk);
            if (walk.end == PageWalk::End::Page)
                svg.text(x + kCell / 2, y + 17, std::to_string(walk.pfn.get()), "middle", "font-size=\"10\"");
            else if (walk.end == PageWalk::End::ZeroPage)
                svg.text(x + kCell / 2, y + 17, "zero", "middle", "font-size=\"10\"");
        }
        for (const MapsLine& vma : stage.vmas) {
            std::uintptr_t start = std::max<std::uintptr_t>(vma.start, base);
            std::uintptr_t end = std::min<std::uintptr_t>(vma.end, base + kPages * kPageSize);
            if (start >= end)
                continue;
            double x = x_of(start) + 2;
            double width = x_of(end) - x_of(start) - 4;
            svg.rect(x, y + 32, width, 34, vma_color(vma.perms), colors::kInk, "rx=\"6\"");
            char range[48];
            std::snprintf(range, sizeof range, "+%#lx to +%#lx", static_cast<unsigned long>(vma.start - base),
                static_cast<unsigned long>(vma.end - base));
            svg.text(x + width / 2, y + 46, vma.perms, "middle", "font-weight=\"bold\"");
            if (width > 120)
                svg.text(x + width / 2, y + 60, range, "middle", "font-size=\"10\" fill=\"#555\"");
        }
        y += kRow;
    }
    svg.text(0, y - 18, "Page 6 has a frame though only pages 0-5 were written: the writes went in order, and vmemu's anonymous "
                        "fault-around mapped ahead of them.");
    svg.text(0, y, "Pages: white, no PTE; blue with its pfn, a frame of its own; yellow, the shared zero page; dashed, "
                   "not mapped (a touch is SIGSEGV).");
    svg.text(0, y + 18, "VMAs: blue rw-p, yellow r--p, from the lines of maps(); their ranges are offsets in the region.");
    svg.write(path);
}
} // namespace

int maps_chapter(const Options& options)
{
    auto machine = make_machine(1024, 0, false);
    TraceRecording recording(*machine, options);
    auto space = check(machine->create_address_space(), "address space");
    constexpr std::size_t kLength = kPages * kPageSize;
    VirtAddr region = check(space->mmap(VirtAddr(), kLength, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS), "mmap");
    auto page = [&](std::size_t index) { return region.offset(index * kPageSize); };
    std::vector<Stage> stages;
    auto step = [&](const char* title, const char* explanation) {
        Stage stage { title, parse_maps(space->maps()), {} };
        for (std::size_t index = 0; index < kPages; ++index)
            stage.pages.push_back(space->walk_page(page(index)));
        stages.push_back(std::move(stage));
        std::printf("== %s: %s\n%s\n", title, explanation, space->maps().c_str());
    };

    step("mmap(16 pages, rw-)", "one VMA, and no page: nothing is allocated until it is touched");
    for (std::size_t index = 0; index < 6; ++index)
        *page(index).ptr<char>() = static_cast<char>('a' + index);
    volatile char seen = *page(8).ptr<volatile char>();
    (void)seen;
    step("write pages 0-5, read page 8", "the same VMA; pages 0-6 have frames (the writes\n"
                                               "   went in order, so the faults mapped ahead: vmemu's anonymous fault-around), page 8 maps the zero page");
    check(space->mprotect(page(4), 4 * kPageSize, PROT_READ), "mprotect");
    step("mprotect(pages 4-7, r--)", "the VMA splits in three, the pages stay where they are");
    check(space->munmap(page(10), 2 * kPageSize), "munmap");
    step("munmap(pages 10-11)", "a hole: the last VMA splits again, and a touch of the hole is SIGSEGV");
    check(space->mmap(page(10), 2 * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), "mmap");
    step("mmap(pages 10-11, rw-, MAP_FIXED)", "the new VMA merges with its neighbours of the same kind, both sides");
    check(space->mprotect(page(4), 4 * kPageSize, PROT_READ | PROT_WRITE), "mprotect");
    step("mprotect(pages 4-7, rw-)", "the three VMAs are alike again, and merge back into one");
    bool kept = true;
    for (std::size_t index = 0; index < 6; ++index)
        kept = kept && *page(index).ptr<char>() == static_cast<char>('a' + index);
    std::size_t vmas = space->vma_count();
    check(space->munmap(region, kLength), "munmap");
    if (!options.svg.empty())
        draw_stages(stages, region, options.svg);
    return kept && vmas == 1 ? 0 : 1;
}

} // namespace vmemu::tour
