// AddressSpace::maps() and smaps(), in the formats of /proc/PID/maps and /proc/PID/smaps
// (fs/proc/task_mmu.c).
#include "text_format.hpp"
#include <algorithm>
#include <climits>
#include <string_view>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <vmemu/fs/inode.hpp>
#include <vmemu/address_space.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

namespace {
// The path of the file fd names, as seq_path() shows it: a newline as \012, and " (deleted)"
// after a file that was removed.
void append_escaped_path(std::string& out, int fd)
{
    char link[32];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    char path[PATH_MAX];
    ssize_t length = ::readlink(link, path, sizeof path);
    if (length <= 0)
        return;
    for (char c : std::string_view(path, static_cast<std::size_t>(length))) {
        if (c == '\n')
            out += "\\012";
        else
            out += c;
    }
}
} // namespace

void append_maps_line(std::string& out, const Vma& vma)
{
    // show_vma_header_prefix(): a file mapping shows its offset in the file, the file's
    // device and inode, and, padded to column 73, its path as seq_path() escapes it.
    std::uint32_t flags = vma.flags();
    const Inode* file = vma.file();
    std::size_t line_start = out.size();
    append_format(out, "%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu ", static_cast<unsigned long>(vma.start().get()),
        static_cast<unsigned long>(vma.end().get()), (flags & VmFlags::Read) ? 'r' : '-',
        (flags & VmFlags::Write) ? 'w' : '-', (flags & VmFlags::Exec) ? 'x' : '-',
        (flags & VmFlags::MayShare) ? 's' : 'p', file ? static_cast<unsigned long long>(vma.pgoff()) << kPageShift : 0ull,
        file ? major(file->dev()) : 0u, file ? minor(file->dev()) : 0u, file ? static_cast<unsigned long>(file->ino()) : 0ul);
    if (file) {
        constexpr std::size_t kPathColumn = 25 + sizeof(void*) * 6 - 1;
        out.resize(std::max(out.size(), line_start + kPathColumn), ' ');
        out += ' ';
        append_escaped_path(out, file->fd());
    }
    out += '\n';
}

namespace {

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
        append_maps_line(out, vma);
    return out;
}

std::string AddressSpace::smaps() const
{
    os::ScopedAsyncSignalBlock signals;
    SharedLock guard(m_mmap_lock);
    const FrameArena& arena = m_machine.arena();
    std::string out;
    const SwapSlots* slots = m_machine.swap() ? &m_machine.swap()->device().slots() : nullptr;
    for (const Vma& vma : m_vmas) {
        // smaps_pte_entry() and smaps_account(): the zero page is not a "normal" page and is not
        // counted; a page mapped more than once (since a fork) is shared, and each mapping's
        // proportional share (Pss) is its size over the mapcount, in 1/4096ths of a byte as
        // Linux's PSS_SHIFT keeps it.
        constexpr unsigned kPssShift = 12;
        unsigned long resident = 0;
        unsigned long anonymous = 0;
        unsigned long referenced = 0;
        unsigned long shared_clean = 0;
        unsigned long shared_dirty = 0;
        unsigned long private_clean = 0;
        unsigned long private_dirty = 0;
        unsigned long swapped = 0;
        std::uint64_t pss = 0;
        std::uint64_t pss_dirty = 0;
        std::uint64_t swap_pss = 0;
        m_page_table.for_each_slot(vma.start(), vma.end(), [&](VirtAddr, PageTable::Entry& slot) {
            Pte pte(slot.load(std::memory_order_relaxed));
            if (pte.is_swap()) {
                ++swapped;
                unsigned count = slots ? slots->map_value(pte.swap_entry().offset()) & SwapSlots::kCountMask : 1;
                swap_pss += (std::uint64_t { kPageSize } << kPssShift) / std::max(count, 1u);
                return;
            }
            if (!pte.present() || arena.is_zero_pfn(pte.pfn()))
                return;
            ++resident;
            referenced += pte.accessed();
            const PageFrame& page = arena.frame(pte.pfn());
            anonymous += page.test(PageFlag::SwapBacked); // PageAnon(): not a page of the file
            bool dirty = pte.dirty() || page.test(PageFlag::Dirty);
            auto mapcount = static_cast<unsigned>(std::max(page.mapcount.load(std::memory_order_relaxed), 1));
            std::uint64_t share = (std::uint64_t { kPageSize } << kPssShift) / mapcount;
            pss += share;
            pss_dirty += dirty ? share : 0;
            if (mapcount > 1)
                (dirty ? shared_dirty : shared_clean) += 1;
            else
                (dirty ? private_dirty : private_clean) += 1;
        });
        unsigned long kb = kPageSize / 1024;
        auto pss_kb = [](std::uint64_t value) { return static_cast<unsigned long>(value >> (kPssShift + 10)); };
        append_maps_line(out, vma);
        append_kb(out, "Size:", vma.size() / 1024);
        append_kb(out, "KernelPageSize:", kb);
        append_kb(out, "MMUPageSize:", kb);
        append_kb(out, "Rss:", resident * kb);
        append_kb(out, "Pss:", pss_kb(pss));
        append_kb(out, "Pss_Dirty:", pss_kb(pss_dirty));
        append_kb(out, "Shared_Clean:", shared_clean * kb);
        append_kb(out, "Shared_Dirty:", shared_dirty * kb);
        append_kb(out, "Private_Clean:", private_clean * kb);
        append_kb(out, "Private_Dirty:", private_dirty * kb);
        append_kb(out, "Referenced:", referenced * kb);
        append_kb(out, "Anonymous:", anonymous * kb);
        append_kb(out, "KSM:", 0);
        append_kb(out, "LazyFree:", 0);
        append_kb(out, "AnonHugePages:", 0);
        append_kb(out, "ShmemPmdMapped:", 0);
        append_kb(out, "FilePmdMapped:", 0);
        append_kb(out, "Shared_Hugetlb:", 0);
        append_kb(out, "Private_Hugetlb:", 0);
        append_kb(out, "Swap:", swapped * kb);
        append_kb(out, "SwapPss:", pss_kb(swap_pss));
        append_kb(out, "Locked:", (vma.flags() & VmFlags::Locked) ? resident * kb : 0);
        append_format(out, "%-16s%8d\n", "THPeligible:", 0);
        append_vm_flags(out, vma.flags());
    }
    return out;
}

} // namespace vmemu
