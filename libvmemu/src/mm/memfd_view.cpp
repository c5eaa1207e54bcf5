// The memfd hardware view, and keeping count of the real kernel's mappings. The reservation
// is one kernel VMA to start with; every boundary between two neighbouring pages that the
// kernel cannot hold in one VMA adds one. Two pages share a kernel VMA when both are PROT_NONE
// reservation, or both map frames at consecutive memfd offsets with the same protection (the
// kernel's vma_merge() joins such neighbours).
#include <algorithm>
#include <cerrno>
#include <vmemu/mm/memfd_view.hpp>

namespace vmemu {

MemfdView::MemfdView(PageTable& page_table, VirtAddr start, VirtAddr end, const FrameArena& arena,
    KernelMapBudget& budget, VmStat& stat)
    : m_page_table(page_table)
    , m_reservation_start(start)
    , m_reservation_end(end)
    , m_arena(arena)
    , m_budget(budget)
    , m_stat(stat)
{
    m_budget.charge(1);
    m_stat.add(VmStatItem::NrKernelMappings, 1);
}

MemfdView::~MemfdView()
{
    m_budget.charge(-1);
    m_stat.add(VmStatItem::NrKernelMappings, -1);
}

MemfdView::HwState MemfdView::hw_state(VirtAddr address) const
{
    // A page another view holds lies in the reservation's own kernel mapping.
    Pte pte = m_page_table.lookup(address);
    if (!holds(pte))
        return {};
    return HwState { pte.raw() & Pte::kHwBits, pte.pfn().get() };
}

bool MemfdView::same_kernel_mapping(const HwState& left, const HwState& right)
{
    if (left.bits == 0 || right.bits == 0)
        return left.bits == right.bits;
    return left.bits == right.bits && left.pfn + 1 == right.pfn;
}

std::int64_t MemfdView::count_boundaries(VirtAddr from, VirtAddr to) const
{
    std::int64_t boundaries = 0;
    HwState previous = hw_state(from);
    VirtAddr address = from.offset(kPageSize);
    VirtAddr end = to.offset(kPageSize);
    while (address < end) {
        VirtAddr table = m_page_table.next_table_or(address, end);
        if (table > address) {
            // [address, table) has no PTE table: all of it is reservation.
            boundaries += !same_kernel_mapping(previous, HwState {});
            previous = HwState {};
            address = table;
            continue;
        }
        std::uintptr_t table_end = (address.get() | (PageTable::kPteTableSpan - 1)) + 1;
        VirtAddr stop(std::min<std::uintptr_t>(table_end, end.get()));
        for (; address < stop; address = address.offset(kPageSize)) {
            HwState current = hw_state(address);
            boundaries += !same_kernel_mapping(previous, current);
            previous = current;
        }
    }
    return boundaries;
}

std::int64_t MemfdView::boundaries_around(VirtAddr start, VirtAddr end) const
{
    // The pairs (start - 1, start) ... (end - 1, end) that lie inside the reservation.
    VirtAddr from = start > m_reservation_start ? start.page_offset(-1) : start;
    VirtAddr last = m_reservation_end.page_offset(-1);
    VirtAddr to = end <= last ? end : last;
    return from < to ? count_boundaries(from, to) : 0;
}

HwMapOutcome MemfdView::map(VirtAddr start, Pfn first, std::size_t count, os::HwProt prot, HwFill)
{
    // This view maps the memfd: frames whose bytes are in the anonymous map bring them over.
    if (m_arena.has_anon_map() && !m_arena.is_zero_pfn(first))
        m_arena.move_home_to_memfd(first, count);
    VirtAddr end = start.page_offset(static_cast<std::int64_t>(count));
    HwState first_state { hw_bits(prot), first.get() };
    HwState last_state { hw_bits(prot), first.get() + count - 1 };
    // A process at vm.max_map_count because of the program's own mappings: a few of vmemu's go
    // to make room, as for its own budget, but not the whole history of them.
    constexpr int kMaxMapCountEvictions = 16;
    for (int refusals = 0;;) {
        std::int64_t before = boundaries_around(start, end);
        std::int64_t after = 0;
        if (start > m_reservation_start)
            after += !same_kernel_mapping(hw_state(start.page_offset(-1)), first_state);
        if (end < m_reservation_end)
            after += !same_kernel_mapping(last_state, hw_state(end));
        std::int64_t delta = after - before;
        int error = ENOMEM; // over vmemu's own budget
        if (m_budget.try_charge(delta)) {
            auto result = os::map_fixed_shared(start, count << kPageShift, prot, m_arena.fd(),
                m_arena.file_offset(first), os::Populate::Yes);
            if (result) {
                m_stat.add(VmStatItem::NrKernelMappings, delta);
                break;
            }
            m_budget.charge(-delta);
            error = result.error().code();
            if (error != ENOMEM) {
                report_refusal("mmap", start, error);
                return HwMapOutcome::Refused;
            }
            ++refusals;
        }
        // Over vmemu's budget, or ENOMEM from the kernel: the process is at vm.max_map_count
        // with mappings vmemu did not count (the program's own). Either way a kernel mapping
        // of ours goes, and the map is tried again; with none left to give, the fault cannot
        // be served.
        if (refusals > kMaxMapCountEvictions || !evict_oldest_mapping()) {
            m_stat.inc(VmStatItem::PgFaultMapLimit);
            return HwMapOutcome::MapLimit;
        }
    }
    remember_mapping(start);
    return HwMapOutcome::Mapped;
}

VmResult<void> MemfdView::unmap(VirtAddr start, VirtAddr end)
{
    if (!m_shared)
        return unmap_frames(start, end);
    // Runs of this view's pages only: the pages around them in the range may be another view's,
    // in registered VMAs whose kernel mapping must stay as it is.
    VmResult<void> result;
    m_page_table.for_each_run(start, end, [this](Pte pte) { return holds(pte); },
        [&](VirtAddr run_start, VirtAddr run_end) {
        if (result)
            result = unmap_frames(run_start, run_end);
    });
    return result;
}

VmResult<void> MemfdView::unmap_frames(VirtAddr start, VirtAddr end)
{
    bool any_mapped = false;
    m_page_table.for_each_slot(start, end, [&](VirtAddr, PageTable::Entry& slot) {
        any_mapped |= holds(Pte(slot.load(std::memory_order_relaxed)));
    });
    if (!any_mapped)
        return {};
    std::int64_t before = boundaries_around(start, end);
    std::int64_t after = 0;
    if (start > m_reservation_start)
        after += hw_state(start.page_offset(-1)).bits != 0;
    if (end < m_reservation_end)
        after += hw_state(end).bits != 0;
    VM_TRY(os::map_fixed_reserved(start, end - start));
    // Beside the userfaultfd view the reservation around is without huge pages: so is this
    // part, or the kernel would not merge it with its neighbours.
    if (m_shared)
        os::no_huge_pages(start, end - start);
    m_budget.charge(after - before);
    m_stat.add(VmStatItem::NrKernelMappings, after - before);
    forget_held(m_page_table, start, end);
    return {};
}

void MemfdView::forget_mappings()
{
    m_recent_head = 0;
    m_recent_count = 0;
}

void MemfdView::remember_mapping(VirtAddr start)
{
    m_recent_mappings[m_recent_head % kRecentMappings] = start.vpn();
    ++m_recent_head;
    m_recent_count = std::min(m_recent_count + 1, kRecentMappings);
}

std::pair<VirtAddr, VirtAddr> MemfdView::kernel_mapping_around(VirtAddr address, std::size_t limit) const
{
    VirtAddr first = address;
    VirtAddr last = address;
    for (std::size_t pages = 1; pages <= limit; ++pages) {
        bool grew = false;
        if (first > m_reservation_start && same_kernel_mapping(hw_state(first.page_offset(-1)), hw_state(first))) {
            first = first.page_offset(-1);
            grew = true;
        }
        VirtAddr next = last.page_offset(1);
        if (next < m_reservation_end && same_kernel_mapping(hw_state(last), hw_state(next))) {
            last = next;
            grew = true;
        }
        if (!grew)
            break;
    }
    return { first, last };
}

bool MemfdView::evict_oldest_mapping()
{
    while (m_recent_count > 0) {
        VirtAddr address(m_recent_mappings[(m_recent_head - m_recent_count) % kRecentMappings] << kPageShift);
        --m_recent_count;
        if (!holds(m_page_table.lookup(address)))
            continue;
        // Only small runs: a long one costs one kernel mapping for many pages, and evicting it
        // would cost as many faults to map again.
        auto [first, last] = kernel_mapping_around(address, kMaxEvictedRun);
        if (pages_between(first, last) + 1 > kMaxEvictedRun || has_pinned_page(first, last.page_offset(1)))
            continue;
        if (!unmap_frames(first, last.page_offset(1)))
            continue;
        m_stat.inc(VmStatItem::KernelMappingEvict);
        return true;
    }
    return false;
}

bool MemfdView::has_pinned_page(VirtAddr start, VirtAddr end) const
{
    bool pinned = false;
    m_page_table.for_each_slot(start, end, [&](VirtAddr, PageTable::Entry& slot) {
        Pte pte(slot.load(std::memory_order_relaxed));
        if (pte.present() && !m_arena.is_zero_pfn(pte.pfn()))
            pinned |= m_arena.frame(pte.pfn()).pincount.load(std::memory_order_acquire) != 0;
    });
    return pinned;
}

} // namespace vmemu
