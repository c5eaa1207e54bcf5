#pragma once
#include <atomic>
#include <boost/intrusive/list_hook.hpp>
#include <boost/intrusive/set_hook.hpp>
#include <cstdint>
#include <vmemu/base/virt_addr.hpp>

namespace vmemu {

class AddressSpace;
class AnonVma;
class Inode;

// vm_flags bits, with Linux's values (include/linux/mm.h).
namespace VmFlags {
inline constexpr std::uint32_t Read = 0x1;
inline constexpr std::uint32_t Write = 0x2;
inline constexpr std::uint32_t Exec = 0x4;
inline constexpr std::uint32_t Shared = 0x8;
inline constexpr std::uint32_t MayRead = 0x10;
inline constexpr std::uint32_t MayWrite = 0x20;
inline constexpr std::uint32_t MayExec = 0x40;
inline constexpr std::uint32_t MayShare = 0x80;
inline constexpr std::uint32_t Locked = 0x2000;
inline constexpr std::uint32_t SeqRead = 0x8000;
inline constexpr std::uint32_t RandRead = 0x10000;
inline constexpr std::uint32_t Account = 0x100000;
inline constexpr std::uint32_t NoReserve = 0x200000;
// vmemu's own: the VMA's anonymous pages may be shared with another address space (it took
// part in AddressSpace::fork), so the userfaultfd view, which holds a mapped page's bytes in
// one reservation, maps its frames instead (AddressSpace::view_for()).
inline constexpr std::uint32_t HwShared = 0x80000000;
inline constexpr std::uint32_t AccessMask = Read | Write | Exec;
} // namespace VmFlags

enum class FaultAccess : std::uint8_t { Read, Write, Exec };

#ifdef VMEMU_VALIDATE
using VmaTreeHook = boost::intrusive::set_member_hook<boost::intrusive::link_mode<boost::intrusive::safe_link>>;
using AnonVmaHook = boost::intrusive::list_member_hook<boost::intrusive::link_mode<boost::intrusive::safe_link>>;
#else
using VmaTreeHook = boost::intrusive::set_member_hook<boost::intrusive::link_mode<boost::intrusive::normal_link>>;
using AnonVmaHook = boost::intrusive::list_member_hook<boost::intrusive::link_mode<boost::intrusive::normal_link>>;
#endif

// A virtual memory area, Linux's vm_area_struct: a page-aligned range [start, end) with one
// protection and one set of flags, in address space mm, on the list of anon_vma (mm/anon_vma.hpp)
// and, when it maps a file, on the file's i_mmap list (fs/inode.hpp).
// Invariants: start < end, both page-aligned; pgoff is, for a file, the index of the file page
// at start, and for anonymous memory the virtual page number the range had when it was
// created; mremap keeps it, so that two VMAs merge only if they were one, and a page's index
// stays valid wherever its VMA goes.
// Locking: the fields are written under the exclusive mmap_lock (and, for the range and pgoff,
// the anon_vma's lock) and read under either.
// The fault-around state is a hint, updated with relaxed atomics by concurrent faults.
class Vma {
public:
    Vma(AddressSpace* mm, AnonVma& anon_vma, VirtAddr start, VirtAddr end, std::uint32_t flags, std::uint64_t pgoff,
        Inode* file = nullptr)
        : m_mm(mm)
        , m_anon_vma(&anon_vma)
        , m_file(file)
        , m_start(start)
        , m_end(end)
        , m_flags(flags)
        , m_pgoff(pgoff)
    {
    }

    AddressSpace* mm() const { return m_mm; }
    AnonVma* anon_vma() const { return m_anon_vma; }
    // vm_file: the file this VMA maps, or null for anonymous memory.
    Inode* file() const { return m_file; }
    bool is_shared_file() const { return m_file && (m_flags & VmFlags::Shared); }
    // The file's writeback error as this mapping last saw it (file->f_wb_err), for msync().
    std::atomic<std::uint32_t>& wb_err_since() { return m_wb_err_since; }
    std::uint32_t wb_err_since() const { return m_wb_err_since.load(std::memory_order_acquire); }
    // The linear index of the page at address (linear_page_index()), which anonymous pages
    // keep in page.index.
    std::uint64_t linear_index(VirtAddr address) const { return m_pgoff + pages_between(m_start, address.page_base()); }

    VirtAddr start() const { return m_start; }
    VirtAddr end() const { return m_end; }
    std::uint32_t flags() const { return m_flags; }
    std::uint64_t pgoff() const { return m_pgoff; }
    std::size_t pages() const { return pages_between(m_start, m_end); }
    std::size_t size() const { return m_end - m_start; }
    bool contains(VirtAddr address) const { return address >= m_start && address < m_end; }

    // access_error() of arch/x86/mm/fault.c: writes need VM_WRITE, instruction fetches need
    // VM_EXEC (the NX bit), and reads need any access at all, since x86 cannot map a page
    // write- or exec-only.
    bool permits(FaultAccess access) const
    {
        if (access == FaultAccess::Write)
            return m_flags & VmFlags::Write;
        if (access == FaultAccess::Exec)
            return m_flags & VmFlags::Exec;
        return m_flags & VmFlags::AccessMask;
    }
    // True if next begins where this ends and they would have been one VMA (vma_merge()).
    bool can_merge_with(const Vma& next) const
    {
        return m_end == next.m_start && m_flags == next.m_flags && m_pgoff + pages() == next.m_pgoff
            && m_anon_vma == next.m_anon_vma && m_file == next.m_file;
    }

    void set_range(VirtAddr start, VirtAddr end, std::uint64_t pgoff)
    {
        m_start = start;
        m_end = end;
        m_pgoff = pgoff;
    }
    void set_flags(std::uint32_t flags) { m_flags = flags; }

    // Sequential-fault detection: the page a sequential stream would fault next, and the
    // window of pages the last fault mapped.
    std::uint64_t next_sequential_vpn() const { return m_next_vpn.load(std::memory_order_relaxed); }
    std::uint32_t fault_around_window() const { return m_window.load(std::memory_order_relaxed); }
    void record_fault(std::uint64_t next_vpn, std::uint32_t window)
    {
        m_next_vpn.store(next_vpn, std::memory_order_relaxed);
        m_window.store(window, std::memory_order_relaxed);
    }

    // Swap faults: the page a sequential stream of swap-ins would fault next, and the VMA
    // readahead state: how far pages have been read ahead, and the window that took them.
    bool swapin_is_sequential(std::uint64_t vpn) const { return m_next_swapin_vpn.load(std::memory_order_relaxed) == vpn; }
    void record_swapin(std::uint64_t next_vpn) { m_next_swapin_vpn.store(next_vpn, std::memory_order_relaxed); }
    std::uint64_t swap_readahead_end() const { return m_swap_ra_end.load(std::memory_order_relaxed); }
    std::uint32_t swap_readahead_window() const { return m_swap_ra_window.load(std::memory_order_relaxed); }
    void record_swap_readahead(std::uint64_t end, std::uint32_t window)
    {
        m_swap_ra_end.store(end, std::memory_order_relaxed);
        m_swap_ra_window.store(window, std::memory_order_relaxed);
    }

    VmaTreeHook tree_hook;
    AnonVmaHook anon_vma_node;
    AnonVmaHook i_mmap_node;

private:
    AddressSpace* m_mm;
    AnonVma* m_anon_vma;
    Inode* m_file;
    std::atomic<std::uint32_t> m_wb_err_since { 0 };
    VirtAddr m_start;
    VirtAddr m_end;
    std::uint32_t m_flags;
    std::uint64_t m_pgoff;
    std::atomic<std::uint64_t> m_next_vpn { 0 };
    std::atomic<std::uint32_t> m_window { 0 };
    std::atomic<std::uint64_t> m_next_swapin_vpn { 0 };
    std::atomic<std::uint64_t> m_swap_ra_end { 0 };
    std::atomic<std::uint32_t> m_swap_ra_window { 0 };
};

} // namespace vmemu
