// The address space's side of the hardware view: which view serves a VMA, installing PTEs
// together with the view's mapping, and the kernel protections of the reservation.
#include <cstring>
#include <vmemu/address_space.hpp>
#include <vmemu/base/assert.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/signals.hpp>

namespace vmemu {

void HardwareView::report_refusal(const char* call, VirtAddr start, int error)
{
    char number[24];
    os::write_stderr("vmemu: ");
    os::write_stderr(call);
    os::write_stderr(" of a frame at ");
    os::write_stderr(os::format_hex(start.get(), number));
    os::write_stderr(" failed: ");
    const char* name = strerrorname_np(error);
    os::write_stderr(name ? name : os::format_decimal(static_cast<unsigned long>(error), number));
    os::write_stderr("\n");
}

void AddressSpace::use_userfault(os::Userfaultfd& uffd, VirtAddr pool)
{
    // Again in the child of a fork: the same userfaultfd object, opened anew, and the same pool.
    if (m_userfault_view) {
        VM_ASSERT(m_userfault_view->pool() == pool);
        return;
    }
    m_userfault_view.emplace(m_page_table, m_machine.arena(), uffd, pool);
    m_memfd_view.share_reservation();
}

HardwareView& AddressSpace::view_for(const Vma& vma)
{
    // A page mapped in several places (a file's page cache, a page AddressSpace::fork shares)
    // must have its bytes in one frame.
    HardwareView& view = private_view();
    bool shared = vma.file() || (vma.flags() & VmFlags::HwShared);
    if (shared && !view.capabilities().shares_frames)
        return m_memfd_view;
    return view;
}

const HardwareView& AddressSpace::view_of(Pte pte) const
{
    VM_ASSERT(pte.hw_mapped());
    if (m_userfault_view && m_userfault_view->holds(pte))
        return *m_userfault_view;
    return m_memfd_view;
}

os::HwProt AddressSpace::hw_prot(const Vma& vma, bool writable)
{
    unsigned prot = static_cast<unsigned>(os::HwProt::Read);
    if (writable)
        prot |= static_cast<unsigned>(os::HwProt::ReadWrite);
    if (vma.flags() & VmFlags::Exec)
        prot |= static_cast<unsigned>(os::HwProt::ReadExec);
    return static_cast<os::HwProt>(prot);
}

std::uint64_t AddressSpace::view_pte_bits(const Vma& vma, const HardwareView& view, std::uint64_t pte_bits)
{
    // A read-only VMA's page is read-only. A view without write protection maps a writable
    // VMA's page with the VMA's protection: writable and, since its writes go unseen, dirty.
    if (!(vma.flags() & VmFlags::Write))
        return pte_bits & ~Pte::kWrite;
    if (view.capabilities().write_protect)
        return pte_bits;
    return pte_bits | Pte::kWrite | Pte::kDirty;
}

FaultResult AddressSpace::install_locked(Vma& vma, VirtAddr start, Pfn first, std::size_t count,
    std::uint64_t pte_bits)
{
    HardwareView& view = view_for(vma);
    pte_bits = view_pte_bits(vma, view, pte_bits);
    os::HwProt prot = hw_prot(vma, pte_bits & Pte::kWrite);
    bool zero = m_machine.arena().is_zero_pfn(first);
    if (zero && view.capabilities().racy_zero_page && m_zero_page_frame.load(std::memory_order_acquire) == 0)
        return FaultResult::OutOfMemory; // no frame for a zero page that may be written meanwhile
    switch (view.map(start, first, count, prot, HwFill::Frame)) {
    case HwMapOutcome::Mapped:
        break;
    case HwMapOutcome::Written:
        return adopt_written_zero_page_locked(vma, start);
    case HwMapOutcome::MapLimit:
        return FaultResult::MapLimit;
    case HwMapOutcome::OutOfMemory:
        return FaultResult::OutOfMemory;
    case HwMapOutcome::Refused:
        return FaultResult::KernelRefused;
    }
    store_installed_ptes_locked(start, first, count, pte_bits, view.pte_bits(prot));
    return FaultResult::Handled;
}

bool AddressSpace::reserve_zero_page_frame()
{
    if (m_zero_page_frame.load(std::memory_order_acquire) != 0)
        return true;
    auto frame = m_machine.page_allocator().alloc_page(ZeroFill::ByMapper);
    if (!frame)
        return false;
    std::uint64_t expected = 0;
    if (!m_zero_page_frame.compare_exchange_strong(expected, frame->get() + 1, std::memory_order_acq_rel))
        m_machine.page_allocator().free_page(*frame); // another thread held one back first
    return true;
}

FaultResult AddressSpace::adopt_written_zero_page_locked(Vma& vma, VirtAddr address)
{
    // Another thread wrote the zero page before its write protection, and the kernel copied
    // it: the view holds that copy, protected. It becomes an anonymous page of its own, with
    // the frame held back for this, dirty; its next write lifts the protection (do_wp_page()).
    std::uint64_t held = m_zero_page_frame.exchange(0, std::memory_order_acq_rel);
    VM_ASSERT(held != 0);
    Pfn pfn(held - 1);
    HardwareView& view = view_for(vma);
    (void)view.map(address, pfn, 1, os::HwProt::Read, HwFill::InPlace);
    Pte old = m_page_table.lookup(address);
    if (old.present() && m_machine.arena().is_zero_pfn(old.pfn()))
        m_machine.stat().dec(VmStatItem::NrZeroPageMappings);
    store_installed_ptes_locked(address, pfn, 1, Pte::kPresent | Pte::kUser | Pte::kAccessed | Pte::kDirty,
        view.pte_bits(os::HwProt::Read));
    add_new_anon_pages_locked(vma, pfn, 1, address);
    m_machine.stat().inc(VmStatItem::PgFaultZeroPageRaced);
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

VmResult<void> AddressSpace::unmap_hardware_range_locked(VirtAddr start, VirtAddr end)
{
    if (m_userfault_view)
        VM_TRY(m_userfault_view->unmap(start, end));
    return m_memfd_view.unmap(start, end);
}

void AddressSpace::sync_kernel_protection_locked(VirtAddr start, VirtAddr end)
{
    if (!private_view().capabilities().follows_vmas)
        return;
    // Each VMA whose view follows VMAs gets its protection; the gaps PROT_NONE, so that a wild
    // access is a SIGSEGV. The VMAs of other views keep what they have: their mapped pages are
    // mappings of frames, and the rest faults either way (a userfaultfd fault or a SIGSEGV),
    // into the same handle_mm_fault().
    VirtAddr at = start;
    for (Vma* vma = m_vmas.find_vma(start); vma && vma->start() < end; vma = m_vmas.next(*vma)) {
        VirtAddr from = std::max(vma->start(), start);
        VirtAddr to = std::min(vma->end(), end);
        if (at < from)
            (void)os::protect(at, from - at, os::HwProt::None);
        at = to;
        bool accessible = vma->flags() & VmFlags::AccessMask;
        view_for(*vma).protect(from, to, accessible ? hw_prot(*vma, vma->flags() & VmFlags::Write) : os::HwProt::None);
    }
    if (at < end)
        (void)os::protect(at, end - at, os::HwProt::None);
}

} // namespace vmemu
