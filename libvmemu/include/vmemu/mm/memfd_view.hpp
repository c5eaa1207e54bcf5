#pragma once
#include <array>
#include <cstdint>
#include <utility>
#include <vmemu/mm/hardware_view.hpp>
#include <vmemu/mm/kernel_map_budget.hpp>
#include <vmemu/mm/page_table.hpp>
#include <vmemu/phys/frame_arena.hpp>
#include <vmemu/stats/vm_stat.hpp>

namespace vmemu {

// The hardware view that maps frames: the reservation is PROT_NONE, and a page is mapped by a
// MAP_SHARED mapping of its frame's memfd page at the address, so that a frame mapped in
// several places is one page (the SIGSEGV fault source's view, and beside the userfaultfd view
// the one for pages that must share frames).
// The kernel holds every run of pages mapped at consecutive memfd offsets with one protection
// in one VMA, and every PROT_NONE gap in one more; vm.max_map_count caps them. Each change is
// charged the exact difference in boundaries between kernel mappings (KernelMapBudget),
// computed from the PTEs' hardware bits; when the budget is used up, the oldest small runs of
// mapped pages leave the view (their PTEs and frames stay) and their next touch maps them
// again with a minor fault: the view is a software-managed TLB.
// Invariant: the budget holds this reservation's kernel mappings exactly: one for the
// reservation, plus one per boundary between pages the kernel cannot hold in one mapping.
// Locking: as HardwareView's; the remembered mappings are the page_table_lock's.
class MemfdView final : public HardwareView {
public:
    MemfdView(PageTable& page_table, VirtAddr start, VirtAddr end, const FrameArena& arena, KernelMapBudget& budget,
        VmStat& stat);
    ~MemfdView() override;
    MemfdView(const MemfdView&) = delete;
    MemfdView& operator=(const MemfdView&) = delete;

    // Another view holds pages of the same reservation, in registered ranges whose kernel
    // mapping must stay: unmap() puts back only runs of this view's own pages.
    void share_reservation() { m_shared = true; }

    HwCapabilities capabilities() const override
    {
        return HwCapabilities { .shares_frames = true, .zero_page = true, .write_protect = true,
            .follows_vmas = false, .holds_bytes = false, .fills_zeros = false, .racy_zero_page = false,
            .survives_fork = false };
    }
    std::uint64_t pte_tag() const override { return 0; }
    HwMapOutcome map(VirtAddr start, Pfn first, std::size_t count, os::HwProt prot, HwFill fill) override;
    VmResult<void> unmap(VirtAddr start, VirtAddr end) override;
    VmResult<void> discard(VirtAddr start, VirtAddr end) override { return unmap(start, end); }
    void protect(VirtAddr, VirtAddr, os::HwProt) override { }
    void forget_mappings() override;

private:
    // What the kernel sees at one page: unmapped (part of a PROT_NONE gap) or a frame with a
    // protection. Pages in one kernel VMA have consecutive frames and the same protection.
    struct HwState {
        std::uint64_t bits { 0 }; // kHwMapped | kHwWrite | kHwExec of the PTE
        std::uint64_t pfn { 0 };
    };
    static constexpr std::size_t kRecentMappings = 1024;
    static constexpr std::size_t kMaxEvictedRun = 16;

    HwState hw_state(VirtAddr address) const;
    static bool same_kernel_mapping(const HwState& left, const HwState& right);
    // Boundaries between kernel mappings among the pairs (v, v + 1) for v in [from, to).
    std::int64_t count_boundaries(VirtAddr from, VirtAddr to) const;
    std::int64_t boundaries_around(VirtAddr start, VirtAddr end) const;
    // Puts [start, end) back to PROT_NONE reservation where any page of it maps a frame.
    VmResult<void> unmap_frames(VirtAddr start, VirtAddr end);
    void remember_mapping(VirtAddr start);
    // Evicts the oldest remembered run of at most kMaxEvictedRun pages; false when none is left.
    bool evict_oldest_mapping();
    // The run of pages around address that the kernel holds in one mapping: [first, last].
    std::pair<VirtAddr, VirtAddr> kernel_mapping_around(VirtAddr address, std::size_t limit) const;
    // Whether a page mapped in [start, end) is pinned (pin_user_pages()).
    bool has_pinned_page(VirtAddr start, VirtAddr end) const;

    PageTable& m_page_table;
    const VirtAddr m_reservation_start;
    const VirtAddr m_reservation_end;
    const FrameArena& m_arena;
    KernelMapBudget& m_budget;
    VmStat& m_stat;
    bool m_shared { false };
    std::array<std::uint64_t, kRecentMappings> m_recent_mappings {};
    std::size_t m_recent_head { 0 };
    std::size_t m_recent_count { 0 };
};

} // namespace vmemu
