#include <vmemu/address_space.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/base/assert.hpp>
#include <vmemu/fault/signal_fault_source.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/memory.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

AddressSpace::AddressSpace(Machine& machine, VirtAddr start, VirtAddr end, PageTable page_table)
    : m_machine(machine)
    , m_reservation_start(start)
    , m_reservation_end(end)
    , m_vmas(this, machine.anon_vmas(), machine.config().max_vmas, &machine.inodes())
    , m_page_table(std::move(page_table))
    , m_memfd_view(m_page_table, start, end, machine.arena(), machine.kernel_map_budget(), machine.stat())
{
}

AddressSpace::~AddressSpace()
{
    SignalFaultSource::instance().detach(*this);
    if (UserfaultFaultSource* userfault = m_machine.userfault())
        userfault->detach(*this);
    {
        os::ScopedAsyncSignalBlock signals;
        ScopedLock guard(m_mmap_lock);
        // Dropping the hardware view first keeps the count of kernel mappings exact.
        VM_ASSERT(zap_page_range_locked(m_reservation_start, m_reservation_end).has_value());
        while (m_vmas.size()) {
            uncharge(m_vmas.begin()->flags(), m_vmas.begin()->pages());
            m_vmas.erase(*m_vmas.begin());
        }
    }
    // No anon_vma leads here any more. Unregistering waits, on spaces_lock, for the reverse-map
    // walks that found this space before its VMAs left their anon_vmas.
    m_machine.unregister_space(*this);
    if (std::uint64_t held = m_zero_page_frame.load(std::memory_order_acquire))
        m_machine.page_allocator().free_page(Pfn(held - 1));
    (void)os::unmap(m_reservation_start.ptr(), m_reservation_end - m_reservation_start);
}

std::size_t AddressSpace::vma_count() const
{
    os::ScopedAsyncSignalBlock signals;
    SharedLock guard(m_mmap_lock);
    return m_vmas.size();
}

std::size_t AddressSpace::rss_pages() const
{
    os::ScopedAsyncSignalBlock signals;
    SharedLock guard(m_mmap_lock);
    std::size_t pages = 0;
    const FrameArena& arena = m_machine.arena();
    m_page_table.for_each_slot(m_reservation_start, m_reservation_end, [&](VirtAddr, PageTable::Entry& slot) {
        Pte pte(slot.load(std::memory_order_relaxed));
        pages += pte.present() && !arena.is_zero_pfn(pte.pfn());
    });
    return pages;
}

void AddressSpace::verify_invariants() const
{
    os::ScopedAsyncSignalBlock signals;
    SharedLock guard(m_mmap_lock);
    ScopedLock ptl(m_page_table_lock);
    m_vmas.verify_invariants();
    m_page_table.verify_invariants();
    for (const Vma& vma : m_vmas)
        VM_ASSERT(vma.start() >= m_reservation_start && vma.end() <= m_reservation_end);
    const FrameArena& arena = m_machine.arena();
    // The lambda runs under the locks taken above, which the analysis cannot see into.
    auto check = [&](VirtAddr address, PageTable::Entry& slot) VM_NO_THREAD_SAFETY_ANALYSIS {
        Pte pte(slot.load(std::memory_order_relaxed));
        if (pte.none())
            return;
        Vma* vma = m_vmas.find_vma(address);
        VM_ASSERT(vma && vma->contains(address));
        if (pte.is_swap()) {
            // A swap PTE holds a count of its slot.
            std::uint8_t map = m_machine.swap()->device().slots().map_value(pte.swap_entry().offset());
            VM_ASSERT((map & SwapSlots::kCountMask) >= 1 && map != SwapSlots::kMapBad);
            return;
        }
        VM_ASSERT(pte.present());
        VM_ASSERT(!pte.hw_mapped() || pte.accessed());
        VM_ASSERT(!pte.writable() || (vma->flags() & VmFlags::Write));
        VM_ASSERT(!pte.hw_writable() || pte.writable());
        if (arena.is_zero_pfn(pte.pfn())) {
            VM_ASSERT(!pte.writable());
            return;
        }
        const PageFrame& frame = arena.frame(pte.pfn());
        VM_ASSERT(frame.refcount.load() >= 1);
        VM_ASSERT(frame.mapcount.load() >= 1);
        VM_ASSERT(frame.page_mapping() == vma->anon_vma() && frame.page_index() == vma->linear_index(address));
        // A clean copy in the swap cache is write-protected; only a page that reclaim has taken
        // off the LRU (between add_to_swap() and try_to_unmap()) may be both.
        VM_ASSERT(!(pte.writable() && frame.test(PageFlag::SwapCache) && frame.test(PageFlag::Lru)));
    };
    m_page_table.for_each_slot(m_reservation_start, m_reservation_end, check);
}

} // namespace vmemu
