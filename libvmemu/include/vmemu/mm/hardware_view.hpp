#pragma once
// The hardware view: the real kernel's mappings of an address space's reservation, which vmemu
// keeps equal to or more restrictive than the emulated PTEs, as an MMU's TLB is kept. As
// Zircon's ArchVmAspaceInterface separates the MMU from the address space, AddressSpace
// decides what is mapped where, and a HardwareView how the kernel is made to map it. mm asks a
// view what it can do (capabilities()), never which mechanism it is.
// The views: MemfdView (mm/memfd_view.hpp), mapping frames' memfd pages, and UserfaultView
// (mm/userfault_view.hpp), filling registered anonymous memory through userfaultfd. One
// reservation may hold pages of both; Pte::kHwUserfault says which view holds each page.
#include <cstdint>
#include <vmemu/base/pfn.hpp>
#include <vmemu/base/virt_addr.hpp>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/mm/page_table.hpp>
#include <vmemu/mm/pte.hpp>
#include <vmemu/os/memory.hpp>

namespace vmemu {

// What a hardware view can do.
struct HwCapabilities {
    // A frame mapped at several addresses is one page at all of them: a write through one is
    // seen through the others (MAP_SHARED files, pages AddressSpace::fork shares copy-on-write).
    bool shares_frames;
    // The shared zero frame can be mapped read-only, its first write faulting.
    bool zero_page;
    // A page can be mapped read-only in a writable VMA, so that its first write faults (a clean
    // copy in the swap cache learns of it).
    bool write_protect;
    // The kernel's protection of a VMA's range follows the VMA (protect()); any change of the
    // VMA's protection takes its pages out of the view.
    bool follows_vmas;
    // A mapped page's bytes live in the view, not in its frame, until unmap() takes them back:
    // a page whose bytes must reach the frame (a fork of the process) leaves even when pinned.
    bool holds_bytes;
    // map() with HwFill::Zero fills new pages with zeros itself (their frames are not zeroed,
    // ZeroFill::ByMapper), and may run without the page_table_lock for pages whose PTEs the
    // caller marked pending (Pte::kPending).
    bool fills_zeros;
    // Another thread may write a zero page as it is being mapped, unseen: map() of the zero
    // frame then says Written, and the caller gives the page a frame of its own (map() with
    // HwFill::InPlace), which it must have in hand before it maps the zero frame.
    bool racy_zero_page;
    // The view's pages are private anonymous memory that fork() shares copy-on-write, and it
    // can write-protect them again in the child (whose kernel drops the parent's protections
    // and registrations): a child of fork() keeps the mapped pages, and nothing is copied for
    // them. unmap() of a page that another process shares copy-on-write copies it out.
    bool survives_fork;
};

// Mapped; MapLimit: the kernel-mapping budget (or vm.max_map_count) left no room, even after
// evicting; OutOfMemory: the kernel had no page; Refused: any other error, which the view has
// written to stderr with the address; Written: a zero page was written before it could be
// protected, and the view holds it with those bytes, write-protected (racy_zero_page).
enum class HwMapOutcome : std::uint8_t { Mapped, MapLimit, OutOfMemory, Refused, Written };
// What map() puts in the pages: the frames' bytes, zeros (views that fill zeros), or nothing:
// the view holds the page's bytes already (a zero page that was Written), and the frame takes
// them where they are.
enum class HwFill : std::uint8_t { Frame, Zero, InPlace };

// Invariant: a page is held by at most one view, and its PTE's hardware bits say which.
// Locking: callers hold the owning address space's page_table_lock for every call, so that the
// PTE hardware bits change together with the view; except map() of pending PTEs where the
// view fills zeros (above).
class HardwareView {
public:
    virtual ~HardwareView() = default;
    virtual HwCapabilities capabilities() const = 0;
    // The PTE bits, beside the protection's, that mark a page this view holds.
    virtual std::uint64_t pte_tag() const = 0;
    bool holds(Pte pte) const { return pte.hw_mapped() && (pte.raw() & Pte::kHwUserfault) == pte_tag(); }
    // The PTE's hardware bits of a page this view maps with prot.
    std::uint64_t pte_bits(os::HwProt prot) const { return hw_bits(prot) | pte_tag(); }

    // Maps [start, start + count pages) to frames [first, first + count) with prot; the caller
    // then stores the PTEs, with pte_bits(prot).
    virtual HwMapOutcome map(VirtAddr start, Pfn first, std::size_t count, os::HwProt prot, HwFill fill) = 0;
    // Takes this view's pages in [start, end) out, their bytes in their frames, and clears the
    // hardware bits of their PTEs. Pages of other views in the range stay as they are.
    virtual VmResult<void> unmap(VirtAddr start, VirtAddr end) = 0;
    // The same for pages whose frames are freed next: their bytes may be dropped.
    virtual VmResult<void> discard(VirtAddr start, VirtAddr end) = 0;
    // The kernel protection of [start, end), all of one VMA that this view serves, is prot now
    // (a view that follows VMAs; the others leave the range as it is).
    virtual void protect(VirtAddr start, VirtAddr end, os::HwProt prot) = 0;
    // In the child of a fork of the process, on a new reservation: no page is mapped.
    virtual void forget_mappings() = 0;

    // The hardware bits kHwMapped, kHwWrite and kHwExec of prot.
    static std::uint64_t hw_bits(os::HwProt prot)
    {
        auto value = static_cast<unsigned>(prot);
        return Pte::kHwMapped | ((value & 2) ? Pte::kHwWrite : 0) | ((value & 4) ? Pte::kHwExec : 0);
    }

protected:
    // The PTEs of this view's pages in [start, end) lose their hardware bits.
    void forget_held(const PageTable& page_table, VirtAddr start, VirtAddr end) const
    {
        page_table.for_each_slot(start, end, [this](VirtAddr, PageTable::Entry& slot) {
            if (holds(Pte(slot.load(std::memory_order_relaxed))))
                slot.fetch_and(~Pte::kHwBits, std::memory_order_acq_rel);
        });
    }
    // The kernel would not map a frame, for a reason vmemu cannot remedy: the one line that
    // says which call, where and why, before the fault's own report (async-signal-safe).
    static void report_refusal(const char* call, VirtAddr start, int error);
};

} // namespace vmemu
