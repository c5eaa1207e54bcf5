// Keeping count of the real kernel's mappings. The reservation of an address space is one
// kernel VMA to start with; every boundary between two neighbouring pages that the kernel
// cannot hold in one VMA adds one. Two pages share a kernel VMA when both are PROT_NONE
// reservation, or both map frames at consecutive memfd offsets with the same protection
// (the kernel's vma_merge() joins such neighbours). Each change of the hardware view is
// charged the exact difference in boundaries, computed under the page_table_lock.
#include <vmemu/address_space.hpp>
#include <vmemu/base/assert.hpp>
#include <vmemu/machine.hpp>

namespace vmemu {

os::HwProt AddressSpace::hw_prot(const Vma& vma, bool writable)
{
    unsigned prot = static_cast<unsigned>(os::HwProt::Read);
    if (writable)
        prot |= static_cast<unsigned>(os::HwProt::ReadWrite);
    if (vma.flags() & VmFlags::Exec)
        prot |= static_cast<unsigned>(os::HwProt::ReadExec);
    return static_cast<os::HwProt>(prot);
}

std::uint64_t AddressSpace::hw_bits(os::HwProt prot)
{
    auto value = static_cast<unsigned>(prot);
    return Pte::kHwMapped | ((value & 2) ? Pte::kHwWrite : 0) | ((value & 4) ? Pte::kHwExec : 0);
}

AddressSpace::HwState AddressSpace::hw_state(VirtAddr address) const
{
    // A page held through userfaultfd lies in the reservation's own kernel mapping.
    Pte pte = m_page_table.lookup(address);
    if (!pte.hw_mapped() || pte.hw_userfault())
        return {};
    return HwState { pte.raw() & Pte::kHwBits, pte.pfn().get() };
}

bool AddressSpace::same_kernel_mapping(const HwState& left, const HwState& right)
{
    if (left.bits == 0 || right.bits == 0)
        return left.bits == right.bits;
    return left.bits == right.bits && left.pfn + 1 == right.pfn;
}

std::int64_t AddressSpace::count_boundaries(VirtAddr from, VirtAddr to) const
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

std::int64_t AddressSpace::boundaries_around(VirtAddr start, VirtAddr end) const
{
    // The pairs (start - 1, start) ... (end - 1, end) that lie inside the reservation.
    VirtAddr from = start > m_reservation_start ? start.page_offset(-1) : start;
    VirtAddr last = m_reservation_end.page_offset(-1);
    VirtAddr to = end <= last ? end : last;
    return from < to ? count_boundaries(from, to) : 0;
}

FaultResult AddressSpace::install_locked(Vma& vma, VirtAddr start, Pfn first, std::size_t count,
    std::uint64_t pte_bits)
{
    if (userfault_vma(vma))
        return install_userfault_locked(vma, start, first, count, pte_bits);
    VirtAddr end = start.page_offset(static_cast<std::int64_t>(count));
    os::HwProt prot = hw_prot(vma, pte_bits & Pte::kWrite);
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
        Mmu::MapOutcome outcome = m_mmu.map(start, first, count, prot, after - before);
        if (outcome == Mmu::MapOutcome::Mapped)
            break;
        if (outcome == Mmu::MapOutcome::KernelRefused)
            return FaultResult::KernelRefused;
        // Over vmemu's budget, or ENOMEM from the kernel: the process is at vm.max_map_count
        // with mappings vmemu did not count (the program's own). Either way a kernel mapping
        // of ours goes, and the map is tried again; with none left to give, the fault cannot
        // be served.
        bool at_map_count = outcome == Mmu::MapOutcome::KernelAtMapCount;
        if ((at_map_count && ++refusals > kMaxMapCountEvictions) || !evict_oldest_mapping_locked()) {
            m_machine.stat().inc(VmStatItem::PgFaultMapLimit);
            return FaultResult::MapLimit;
        }
    }
    remember_mapping_locked(start);
    store_installed_ptes_locked(start, first, count, pte_bits, hw_bits(prot));
    return FaultResult::Handled;
}

void AddressSpace::store_installed_ptes_locked(VirtAddr start, Pfn first, std::size_t count, std::uint64_t pte_bits,
    std::uint64_t hw)
{
    PageTable::Entry* slots = m_page_table.walk(start);
    for (std::size_t i = 0; i < count; ++i) {
        std::uint64_t bits = pte_bits & ~Pte::kPfnMask & ~Pte::kHwBits;
        // A page that stays mapped to the same frame keeps its accessed and dirty bits.
        Pte old(slots[i].load(std::memory_order_relaxed));
        if (old.present() && old.pfn() == first + i)
            bits |= old.raw() & (Pte::kAccessed | Pte::kDirty);
        slots[i].store(Pte::make(first + i, bits | hw).raw(), std::memory_order_release);
    }
}

std::uint64_t AddressSpace::userfault_pte_bits(const Vma& vma, std::uint64_t pte_bits)
{
    // The kernel maps the page with the VMA's protection: a writable VMA's page is writable
    // and, since its writes go unseen, dirty.
    return (vma.flags() & VmFlags::Write) ? pte_bits | Pte::kWrite | Pte::kDirty : pte_bits;
}

FaultResult AddressSpace::install_userfault_locked(Vma& vma, VirtAddr start, Pfn first, std::size_t count,
    std::uint64_t pte_bits)
{
    bool writable = vma.flags() & VmFlags::Write;
    pte_bits = userfault_pte_bits(vma, pte_bits);
    Mmu::MapOutcome outcome = m_mmu.copy_in(start, first, count, Mmu::Source::Frame);
    if (outcome == Mmu::MapOutcome::KernelOutOfMemory)
        return FaultResult::OutOfMemory;
    if (outcome != Mmu::MapOutcome::Mapped)
        return FaultResult::KernelRefused;
    store_installed_ptes_locked(start, first, count, pte_bits, hw_bits_for(vma, writable));
    return FaultResult::Handled;
}

void AddressSpace::remember_mapping_locked(VirtAddr start)
{
    m_recent_mappings[m_recent_head % kRecentMappings] = start.vpn();
    ++m_recent_head;
    m_recent_count = std::min(m_recent_count + 1, kRecentMappings);
}

std::pair<VirtAddr, VirtAddr> AddressSpace::kernel_mapping_around(VirtAddr address, std::size_t limit) const
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

bool AddressSpace::evict_oldest_mapping_locked()
{
    while (m_recent_count > 0) {
        VirtAddr address(m_recent_mappings[(m_recent_head - m_recent_count) % kRecentMappings] << kPageShift);
        --m_recent_count;
        Pte pte = m_page_table.lookup(address);
        if (!pte.hw_mapped() || pte.hw_userfault())
            continue;
        // Only small runs: a long one costs one kernel mapping for many pages, and evicting it
        // would cost as many faults to map again.
        auto [first, last] = kernel_mapping_around(address, kMaxEvictedRun);
        if (pages_between(first, last) + 1 > kMaxEvictedRun || has_pinned_page_locked(first, last.page_offset(1)))
            continue;
        if (!unmap_hardware_range_locked(first, last.page_offset(1)))
            continue;
        m_machine.stat().inc(VmStatItem::KernelMappingEvict);
        return true;
    }
    return false;
}

bool AddressSpace::has_pinned_page_locked(VirtAddr start, VirtAddr end) const
{
    bool pinned = false;
    m_page_table.for_each_slot(start, end, [&](VirtAddr, PageTable::Entry& slot) {
        Pte pte(slot.load(std::memory_order_relaxed));
        if (pte.present() && !m_machine.arena().is_zero_pfn(pte.pfn()))
            pinned |= m_machine.arena().frame(pte.pfn()).pincount.load(std::memory_order_acquire) != 0;
    });
    return pinned;
}

VmResult<void> AddressSpace::unmap_hardware_range_locked(VirtAddr start, VirtAddr end)
{
    if (!m_mmu.userfault())
        return unmap_frames_locked(start, end);
    // Pages held through userfaultfd go back to their frames. Pages of VMAs that map frames
    // leave in runs of mapped neighbours only: the pages around them in the range may belong
    // to registered VMAs, whose kernel mapping must stay as it is.
    VM_TRY(take_out_range_locked(start, end));
    VmResult<void> result;
    VirtAddr run_start;
    VirtAddr run_end;
    auto flush = [&]() VM_REQUIRES(m_page_table_lock) {
        if (run_end > run_start && result)
            result = unmap_frames_locked(run_start, run_end);
        run_start = run_end = VirtAddr();
    };
    // The walk calls back under this function's page_table_lock.
    m_page_table.for_each_slot(start, end, [&](VirtAddr address, PageTable::Entry& slot) VM_NO_THREAD_SAFETY_ANALYSIS {
        Pte pte(slot.load(std::memory_order_relaxed));
        bool frame_mapped = pte.hw_mapped() && !pte.hw_userfault();
        if (!frame_mapped || (run_end > run_start && address != run_end)) {
            flush();
            if (!frame_mapped)
                return;
        }
        if (run_end == run_start)
            run_start = address;
        run_end = address.offset(kPageSize);
    });
    flush();
    return result;
}

VmResult<void> AddressSpace::unmap_frames_locked(VirtAddr start, VirtAddr end)
{
    bool any_mapped = false;
    m_page_table.for_each_slot(start, end, [&](VirtAddr, PageTable::Entry& slot) {
        any_mapped |= Pte(slot.load(std::memory_order_relaxed)).hw_mapped();
    });
    if (!any_mapped)
        return {};
    std::int64_t before = boundaries_around(start, end);
    std::int64_t after = 0;
    if (start > m_reservation_start)
        after += hw_state(start.page_offset(-1)).bits != 0;
    if (end < m_reservation_end)
        after += hw_state(end).bits != 0;
    VM_TRY(m_mmu.unmap(start, pages_between(start, end), after - before));
    m_page_table.for_each_slot(start, end, [](VirtAddr, PageTable::Entry& slot) {
        slot.fetch_and(~Pte::kHwBits, std::memory_order_acq_rel);
    });
    return {};
}

VmResult<void> AddressSpace::take_out_range_locked(VirtAddr start, VirtAddr end)
{
    // Runs of neighbouring mapped pages of one protection, at most a pool's worth each.
    Pfn pfns[Mmu::kPoolPages];
    std::size_t count = 0;
    VirtAddr run_start;
    os::HwProt run_prot = os::HwProt::None;
    auto prot_of = [](Pte pte) {
        return static_cast<os::HwProt>(static_cast<unsigned>(os::HwProt::Read) | (pte.hw_writable() ? 2u : 0u)
            | ((pte.raw() & Pte::kHwExec) ? 4u : 0u));
    };
    VmResult<void> result;
    auto flush = [&]() VM_REQUIRES(m_page_table_lock) {
        if (count == 0 || !result) {
            count = 0;
            return;
        }
        VmError error(0, "");
        std::size_t taken = m_mmu.take_out(run_start, pfns, count, run_prot, &error);
        PageTable::Entry* slots = m_page_table.walk(run_start);
        for (std::size_t i = 0; i < taken; ++i)
            slots[i].fetch_and(~Pte::kHwBits, std::memory_order_acq_rel);
        if (error.code() != 0)
            result = std::unexpected(error);
        count = 0;
    };
    // The walk calls back under this function's page_table_lock.
    m_page_table.for_each_slot(start, end, [&](VirtAddr address, PageTable::Entry& slot) VM_NO_THREAD_SAFETY_ANALYSIS {
        Pte pte(slot.load(std::memory_order_relaxed));
        if (!pte.hw_userfault()) {
            flush();
            return;
        }
        // A run stays in one PTE table, whose slots are consecutive in memory.
        bool table_start = (address.vpn() & (PageTable::kEntries - 1)) == 0;
        if (count > 0 && (count == Mmu::kPoolPages || prot_of(pte) != run_prot
                || address != run_start.offset(count << kPageShift) || table_start))
            flush();
        if (count == 0) {
            run_start = address;
            run_prot = prot_of(pte);
        }
        pfns[count++] = pte.pfn();
    });
    flush();
    return result;
}

void AddressSpace::sync_kernel_protection_locked(VirtAddr start, VirtAddr end)
{
    if (!m_mmu.userfault())
        return;
    // Each VMA that goes through userfaultfd with its protection, registered, so that a missing
    // page is a userfaultfd fault; the gaps PROT_NONE, so that a wild access is a SIGSEGV. The
    // VMAs that map frames keep what they have: their mapped pages are memfd mappings, and the
    // rest faults either way (a userfaultfd fault or a SIGSEGV), into the same handle_mm_fault().
    VirtAddr at = start;
    for (Vma* vma = m_vmas.find_vma(start); vma && vma->start() < end; vma = m_vmas.next(*vma)) {
        VirtAddr from = std::max(vma->start(), start);
        VirtAddr to = std::min(vma->end(), end);
        if (at < from)
            (void)os::protect(at, from - at, os::HwProt::None);
        at = to;
        if (!userfault_vma(*vma))
            continue;
        bool accessible = vma->flags() & VmFlags::AccessMask;
        (void)m_mmu.protect(from, pages_between(from, to),
            accessible ? hw_prot(*vma, vma->flags() & VmFlags::Write) : os::HwProt::None);
    }
    if (at < end)
        (void)os::protect(at, end - at, os::HwProt::None);
}

} // namespace vmemu
