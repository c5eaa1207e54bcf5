// AddressSpace::maps() and smaps(), in the formats of /proc/PID/maps and /proc/PID/smaps
// (fs/proc/task_mmu.c).
#include "text_format.hpp"
#include <vmemu/address_space.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

namespace {
void append_header(std::string& out, const Vma& vma)
{
    std::uint32_t flags = vma.flags();
    append_format(out, "%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu \n", static_cast<unsigned long>(vma.start().get()),
        static_cast<unsigned long>(vma.end().get()), (flags & VmFlags::Read) ? 'r' : '-',
        (flags & VmFlags::Write) ? 'w' : '-', (flags & VmFlags::Exec) ? 'x' : '-',
        (flags & VmFlags::MayShare) ? 's' : 'p', 0ull, 0, 0, 0ul);
}

// show_smap_vma_flags(): the two-letter mnemonics of vm_flags.
void append_vm_flags(std::string& out, std::uint32_t flags)
{
    struct Mnemonic {
        std::uint32_t flag;
        const char* name;
    };
    static constexpr Mnemonic kMnemonics[] = {
        { VmFlags::Read, "rd" }, { VmFlags::Write, "wr" }, { VmFlags::Exec, "ex" }, { VmFlags::Shared, "sh" },
        { VmFlags::MayRead, "mr" }, { VmFlags::MayWrite, "mw" }, { VmFlags::MayExec, "me" },
        { VmFlags::MayShare, "ms" }, { VmFlags::Locked, "lo" }, { VmFlags::SeqRead, "sr" },
        { VmFlags::RandRead, "rr" }, { VmFlags::Account, "ac" }, { VmFlags::NoReserve, "nr" },
    };
    out += "VmFlags: ";
    for (const Mnemonic& mnemonic : kMnemonics) {
        if (flags & mnemonic.flag) {
            out += mnemonic.name;
            out += ' ';
        }
    }
    out += '\n';
}
} // namespace

std::string AddressSpace::maps() const
{
    os::ScopedAsyncSignalBlock signals;
    SharedLock guard(m_mmap_lock);
    std::string out;
    for (const Vma& vma : m_vmas)
        append_header(out, vma);
    return out;
}

std::string AddressSpace::smaps() const
{
    os::ScopedAsyncSignalBlock signals;
    SharedLock guard(m_mmap_lock);
    const FrameArena& arena = m_machine.arena();
    std::string out;
    for (const Vma& vma : m_vmas) {
        // smaps_pte_entry(): the zero page is not a "normal" page and is not counted.
        unsigned long resident = 0;
        unsigned long dirty = 0;
        unsigned long referenced = 0;
        unsigned long shared = 0;
        m_page_table.for_each_slot(vma.start(), vma.end(), [&](VirtAddr, PageTable::Entry& slot) {
            Pte pte(slot.load(std::memory_order_relaxed));
            if (!pte.present() || arena.is_zero_pfn(pte.pfn()))
                return;
            ++resident;
            dirty += pte.dirty();
            referenced += pte.accessed();
            shared += arena.frame(pte.pfn()).mapcount.load(std::memory_order_relaxed) > 1;
        });
        unsigned long kb = kPageSize / 1024;
        append_header(out, vma);
        append_kb(out, "Size:", vma.size() / 1024);
        append_kb(out, "KernelPageSize:", kb);
        append_kb(out, "MMUPageSize:", kb);
        append_kb(out, "Rss:", resident * kb);
        append_kb(out, "Pss:", resident * kb);
        append_kb(out, "Pss_Dirty:", dirty * kb);
        append_kb(out, "Shared_Clean:", 0);
        append_kb(out, "Shared_Dirty:", shared * kb);
        append_kb(out, "Private_Clean:", (resident - dirty) * kb);
        append_kb(out, "Private_Dirty:", (dirty - shared) * kb);
        append_kb(out, "Referenced:", referenced * kb);
        append_kb(out, "Anonymous:", resident * kb);
        append_kb(out, "KSM:", 0);
        append_kb(out, "LazyFree:", 0);
        append_kb(out, "AnonHugePages:", 0);
        append_kb(out, "ShmemPmdMapped:", 0);
        append_kb(out, "FilePmdMapped:", 0);
        append_kb(out, "Shared_Hugetlb:", 0);
        append_kb(out, "Private_Hugetlb:", 0);
        append_kb(out, "Swap:", 0);
        append_kb(out, "SwapPss:", 0);
        append_kb(out, "Locked:", (vma.flags() & VmFlags::Locked) ? resident * kb : 0);
        append_format(out, "%-16s%8d\n", "THPeligible:", 0);
        append_vm_flags(out, vma.flags());
    }
    return out;
}

} // namespace vmemu
