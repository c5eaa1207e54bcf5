#pragma once
#include <atomic>
#include <cstdint>
#include <vmemu/base/virt_addr.hpp>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/mm/pte.hpp>
#include <vmemu/phys/page_allocator.hpp>

namespace vmemu {

// A four-level page table (PGD, PUD, PMD, PTE; 9 bits of the virtual address each) whose
// table pages are frames of the arena, reached through the direct map and counted as
// nr_page_table_pages, as in Linux.
// Invariants: an upper-level entry is 0 or present with the frame of a zeroed-at-birth table
// of type PageTable; a table is freed only when it maps nothing.
// Locking: entries are atomics. Walks that allocate install new tables with a compare-and-swap
// and may run under the shared mmap_lock. PTE values change under the owner's page_table_lock;
// free_tables() needs the exclusive mmap_lock.
class PageTable {
public:
    static constexpr unsigned kLevels = 4;
    static constexpr unsigned kEntries = 512;
    static constexpr std::uintptr_t kPteTableSpan = std::uintptr_t { kEntries } << kPageShift; // 2 MiB

    using Entry = std::atomic<std::uint64_t>;

    // The table pages are counted in counter: nr_page_table_pages for a page table, and
    // nr_slab_reclaimable for the page cache's tree, which Linux keeps in radix_tree_node slabs.
    static VmResult<PageTable> create(PageAllocator& allocator, VmStat& stat,
        VmStatItem counter = VmStatItem::NrPageTablePages);
    PageTable(PageTable&& other) noexcept;
    PageTable& operator=(PageTable&&) = delete;
    ~PageTable();

    // The PTE slot of address, allocating missing tables; nullptr when no frame is free.
    Entry* walk_alloc(VirtAddr address);
    // The PTE slot of address, or nullptr when a table on the way is missing.
    Entry* walk(VirtAddr address) const;
    // The index of address in a table of level (0 the PGD ... 3 the PTE table).
    static constexpr unsigned shift_of(unsigned level) { return kPageShift + 9 * (kLevels - 1 - level); }
    static constexpr unsigned index_of(VirtAddr address, unsigned level)
    {
        return (address.get() >> shift_of(level)) & (kEntries - 1);
    }
    // One level of a walk: the table's frame, the index address selects in it, and the entry.
    struct WalkStep {
        Pfn table;
        unsigned index;
        Pte entry;
    };
    // The walk of address as the MMU does it, PGD first, up to the first entry that is not
    // present (or through all four levels); returns how many steps it took.
    unsigned walk_steps(VirtAddr address, WalkStep (&steps)[kLevels]) const;
    Pte lookup(VirtAddr address) const
    {
        Entry* slot = walk(address);
        return slot ? Pte(slot->load(std::memory_order_acquire)) : Pte();
    }

    // Calls visit(VirtAddr, Entry&) for every slot in [start, end) whose PTE table exists.
    template<typename Visit>
    void for_each_slot(VirtAddr start, VirtAddr end, Visit&& visit) const;
    // Calls visit(run_start, run_end) for each run of neighbouring pages in [start, end) whose
    // PTEs satisfy in_run(Pte), in address order; visit may change the PTEs' values.
    template<typename InRun, typename Visit>
    void for_each_run(VirtAddr start, VirtAddr end, InRun&& in_run, Visit&& visit) const;
    // The first address >= address whose PTE table exists, or end.
    VirtAddr next_table_or(VirtAddr address, VirtAddr end) const;

    // Frees every table that only covers addresses in [start, end). Each must map nothing.
    void free_tables(VirtAddr start, VirtAddr end);
    std::size_t table_pages() const { return m_table_pages; }

    void verify_invariants() const;

private:
    PageTable(PageAllocator& allocator, VmStat& stat, VmStatItem counter, Pfn pgd)
        : m_allocator(&allocator)
        , m_stat(&stat)
        , m_counter(counter)
        , m_pgd(pgd)
    {
    }
    Entry* table(Pfn pfn) const { return reinterpret_cast<Entry*>(m_allocator->arena().direct_map(pfn)); }
    std::optional<Pfn> alloc_table();
    void release_table(Pfn pfn);
    // Returns true if the table at pfn (covering [base, base + span of level)) became empty.
    bool free_tables_in(Pfn pfn, unsigned level, std::uintptr_t base, VirtAddr start, VirtAddr end);
    unsigned verify_table(Pfn pfn, unsigned level) const;

    PageAllocator* m_allocator;
    VmStat* m_stat;
    VmStatItem m_counter;
    Pfn m_pgd;
    std::atomic<std::size_t> m_table_pages { 1 };
};

template<typename Visit>
void PageTable::for_each_slot(VirtAddr start, VirtAddr end, Visit&& visit) const
{
    VirtAddr address = start;
    while (address < end) {
        address = next_table_or(address, end);
        if (address >= end)
            break;
        Entry* slots = walk(address) - index_of(address, kLevels - 1);
        std::uintptr_t table_end = (address.get() | (kPteTableSpan - 1)) + 1;
        VirtAddr stop = VirtAddr(std::min<std::uintptr_t>(table_end, end.get()));
        for (; address < stop; address = address.offset(kPageSize))
            visit(address, slots[index_of(address, kLevels - 1)]);
    }
}

template<typename InRun, typename Visit>
void PageTable::for_each_run(VirtAddr start, VirtAddr end, InRun&& in_run, Visit&& visit) const
{
    VirtAddr run_start;
    VirtAddr run_end;
    for_each_slot(start, end, [&](VirtAddr address, Entry& slot) {
        bool in = in_run(Pte(slot.load(std::memory_order_relaxed)));
        if (run_end > run_start && (!in || address != run_end)) {
            visit(run_start, run_end);
            run_start = run_end = VirtAddr();
        }
        if (!in)
            return;
        if (run_end == run_start)
            run_start = address;
        run_end = address.offset(kPageSize);
    });
    if (run_end > run_start)
        visit(run_start, run_end);
}

} // namespace vmemu
