// AddressSpace::page_walk(): what the MMU does for one address, told step by step: the VMA,
// the four table entries from the PGD down, and the page the PTE maps, shown as dump_page()
// shows a struct page (mm/debug.c).
#include "text_format.hpp"
#include <bit>
#include <vmemu/address_space.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

namespace {
constexpr const char* kLevelNames[PageTable::kLevels] = { "pgd", "pud", "pmd", "pte" };

// The bits of an entry, by the names the x86 and vmemu give them.
void append_entry_bits(std::string& out, Pte entry)
{
    struct Bit {
        std::uint64_t mask;
        const char* name;
    };
    static constexpr Bit kBits[] = {
        { Pte::kPresent, "present" }, { Pte::kWrite, "write" }, { Pte::kUser, "user" },
        { Pte::kAccessed, "accessed" }, { Pte::kDirty, "dirty" }, { Pte::kHwMapped, "hw_mapped" },
        { Pte::kHwWrite, "hw_write" }, { Pte::kHwExec, "hw_exec" },
    };
    for (const Bit& bit : kBits) {
        if (entry.raw() & bit.mask)
            append_format(out, " %s", bit.name);
    }
}

// The page flags by their names in include/trace/events/mmflags.h, bit by bit.
void append_page_flags(std::string& out, std::uint32_t flags)
{
    static constexpr const char* kNames[] = { "locked", "referenced", "uptodate", "dirty", "lru", "active",
        "workingset", "slab", "reserved", "private", "writeback", "head", "swapcache", "swapbacked",
        "unevictable", "mlocked", "zeroed", "error", "readahead", "waiters", "anon_home" };
    append_format(out, "flags: %#x(", flags);
    bool first = true;
    for (unsigned bit = 0; bit < std::size(kNames); ++bit) {
        if (flags & (1u << bit)) {
            append_format(out, "%s%s", first ? "" : "|", kNames[bit]);
            first = false;
        }
    }
    out += ")\n";
}

const char* page_type_name(PageType type)
{
    switch (type) {
    case PageType::None: return nullptr;
    case PageType::Buddy: return "buddy";
    case PageType::PageTable: return "table";
    case PageType::Zero: return "zero";
    }
    return nullptr;
}
} // namespace

PageWalk AddressSpace::walk_page_locked(VirtAddr address) const
{
    PageWalk walk;
    walk.address = address;
    const Vma* vma = m_vmas.find_vma(address);
    walk.in_vma = vma && vma->start() <= address;
    walk.depth = m_page_table.walk_steps(address, walk.steps);
    Pte pte = walk.pte();
    const FrameArena& arena = m_machine.arena();
    if (walk.depth < PageTable::kLevels) {
        walk.end = PageWalk::End::NoTable;
    } else if (pte.none()) {
        walk.end = PageWalk::End::PteNone;
    } else if (pte.is_swap()) {
        walk.end = PageWalk::End::SwapEntry;
        walk.swap_type = pte.swap_entry().type();
        walk.swap_offset = pte.swap_entry().offset();
    } else if (arena.is_zero_pfn(pte.pfn())) {
        walk.end = PageWalk::End::ZeroPage;
    } else {
        const PageFrame& page = arena.frame(pte.pfn());
        walk.end = PageWalk::End::Page;
        walk.pfn = pte.pfn();
        walk.refcount = page.refcount.load(std::memory_order_relaxed);
        walk.mapcount = page.mapcount.load(std::memory_order_relaxed);
        walk.flags = page.flags.load(std::memory_order_relaxed);
    }
    return walk;
}

PageWalk AddressSpace::walk_page(VirtAddr address) const
{
    os::ScopedAsyncSignalBlock signals;
    SharedLock guard(m_mmap_lock);
    ScopedLock tables(m_page_table_lock);
    return walk_page_locked(address);
}

std::string AddressSpace::page_walk(VirtAddr address) const
{
    os::ScopedAsyncSignalBlock signals;
    SharedLock guard(m_mmap_lock);
    std::string out;
    auto index = [&](unsigned level) { return PageTable::index_of(address, level); };
    append_format(out, "%#lx: pgd %u, pud %u, pmd %u, pte %u, byte %#lx of the page\n",
        static_cast<unsigned long>(address.get()), index(0), index(1), index(2), index(3),
        static_cast<unsigned long>(address.get() & (kPageSize - 1)));
    const Vma* vma = m_vmas.find_vma(address);
    if (vma && vma->start() <= address) {
        out += "vma  ";
        append_maps_line(out, *vma);
    } else {
        out += "vma  none: a touch here is SIGSEGV (SEGV_MAPERR)\n";
    }

    ScopedLock tables(m_page_table_lock);
    PageWalk walk = walk_page_locked(address);
    for (unsigned level = 0; level < walk.depth; ++level) {
        const PageTable::WalkStep& step = walk.steps[level];
        append_format(out, "%s  [%3u] of the table at pfn %#lx = 0x%016lx", kLevelNames[level], step.index,
            static_cast<unsigned long>(step.table.get()), static_cast<unsigned long>(step.entry.raw()));
        append_entry_bits(out, step.entry);
        if (level + 1 < PageTable::kLevels && step.entry.present())
            append_format(out, " -> %s table\n", kLevelNames[level + 1]);
        else
            out += '\n';
    }
    const FrameArena& arena = m_machine.arena();
    switch (walk.end) {
    case PageWalk::End::NoTable:
        append_format(out, "no %s table: nothing below this %s entry was ever touched\n", kLevelNames[walk.depth],
            kLevelNames[walk.depth - 1]);
        break;
    case PageWalk::End::PteNone:
        out += "pte none: the next touch faults, and the page comes on demand\n";
        break;
    case PageWalk::End::SwapEntry:
        append_format(out, "swap entry: type %u, offset %u; the next touch reads it back (a major fault)\n",
            walk.swap_type, walk.swap_offset);
        break;
    case PageWalk::End::ZeroPage:
        out += "the shared zero page: reads see zeros, the first write gets a frame of its own\n";
        break;
    case PageWalk::End::Page: {
        const PageFrame& page = arena.frame(walk.pfn);
        append_format(out, "page:%p refcount:%d mapcount:%d mapping:%p index:%#lx pfn:%#lx\n",
            static_cast<const void*>(&page), walk.refcount, walk.mapcount, page.page_mapping(),
            static_cast<unsigned long>(page.page_index()), static_cast<unsigned long>(walk.pfn.get()));
        if (const char* type = page_type_name(page.type()))
            append_format(out, "page_type: %s\n", type);
        append_page_flags(out, walk.flags);
        append_format(out, "direct map: %p, the byte at %p\n", static_cast<void*>(arena.direct_map(walk.pfn)),
            static_cast<void*>(arena.direct_map(walk.pfn) + (address.get() & (kPageSize - 1))));
        break;
    }
    }
    return out;
}

} // namespace vmemu
