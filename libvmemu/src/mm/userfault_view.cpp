#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vmemu/base/assert.hpp>
#include <vmemu/mm/userfault_view.hpp>

namespace vmemu {

UserfaultView::~UserfaultView()
{
    (void)os::unmap(m_pool.ptr(), kPoolBytes);
}

HwMapOutcome UserfaultView::map(VirtAddr start, Pfn first, std::size_t count, os::HwProt prot, HwFill fill)
{
    // A read-only page of a writable VMA is write-protected, so that its first write faults;
    // a read-only VMA's page is read-only anyway.
    bool protect = !(static_cast<unsigned>(prot) & 2) && m_uffd.write_protect();
    if (fill == HwFill::Frame) {
        // A page held already changes alone (a write fault, or its protection catching up): the
        // same frame only changes its write protection; another frame replaces it, the old
        // page's bytes going back to its frame first.
        Pte old(m_page_table.walk(start)->load(std::memory_order_acquire));
        if (holds(old)) {
            VM_ASSERT(count == 1);
            if (old.pfn() == first) {
                if (auto changed = m_uffd.set_write_protect(start, kPageSize, protect); !changed) {
                    report_refusal("UFFDIO_WRITEPROTECT", start, changed.error().code());
                    return HwMapOutcome::Refused;
                }
                return HwMapOutcome::Mapped;
            }
            if (auto taken = unmap(start, start.offset(kPageSize)); !taken) {
                report_refusal("UFFDIO_MOVE", start, taken.error().code());
                return HwMapOutcome::Refused;
            }
        }
    }
    if (fill == HwFill::InPlace) {
        // The page holds its bytes already.
        VM_ASSERT(count == 1 && !holds(Pte(m_page_table.walk(start)->load(std::memory_order_acquire))));
        empty_frames(first, count);
        return HwMapOutcome::Mapped;
    }
    if (m_arena.is_zero_pfn(first)) {
        VM_ASSERT(count == 1);
        return map_zero_page(start);
    }
    // Frames whose bytes are in the anonymous map move in, with no copy; a protected page is
    // copied in instead, because a move would leave it writable.
    std::size_t moved = fill == HwFill::Frame && !protect && prot == os::HwProt::ReadWrite ? move_in(start, first, count) : 0;
    if (moved == count)
        return HwMapOutcome::Mapped;
    // Zeros come from pages nobody writes, which read as the kernel's zero page: copying
    // them costs no page of the memfd, as reading a punched frame would.
    static constexpr std::size_t kZeroPages = 64;
    alignas(kPageSize) static const std::byte zeros[kZeroPages << kPageShift] {};
    // The errno of a copy, or 0.
    auto copy = [&](std::size_t from, std::size_t pages) {
        const void* bytes_from = fill == HwFill::Frame ? static_cast<const void*>(m_arena.direct_map(first + from))
                                                       : static_cast<const void*>(zeros);
        auto copied = m_uffd.copy(start.offset(from << kPageShift), bytes_from, pages << kPageShift, protect);
        return copied ? 0 : copied.error().code();
    };
    int error = 0;
    // A copy reads one run of the direct map: frames whose bytes are in one place.
    auto same_home = [&](std::size_t from, std::size_t limit) {
        if (fill != HwFill::Frame)
            return limit;
        bool anon = m_arena.frame(first + from).test(PageFlag::AnonHome);
        std::size_t pages = 1;
        while (pages < limit && m_arena.frame(first + from + pages).test(PageFlag::AnonHome) == anon)
            ++pages;
        return pages;
    };
    for (std::size_t done = moved, pages = 0; done < count && error == 0; done += pages) {
        pages = same_home(done, std::min(kZeroPages, count - done));
        error = copy(done, pages);
        // ENOENT: the range crosses the end of a kernel VMA (two registered mappings the
        // kernel did not merge), before anything was copied; a page at a time cannot.
        if (error == ENOENT && pages > 1) {
            error = 0;
            for (std::size_t page = 0; page < pages && error == 0; ++page)
                error = copy(done + page, 1);
        }
    }
    if (error != 0) {
        // All of the range was missing: whatever part came goes again, so that no page is
        // mapped that no PTE records, and the pages moved in go back to their frames.
        VirtAddr copied_from = start.offset(moved << kPageShift);
        (void)os::discard(copied_from, (count - moved) << kPageShift);
        if (moved > 0)
            move_back(start, first, moved);
        if (error == ENOMEM)
            return HwMapOutcome::OutOfMemory;
        report_refusal("UFFDIO_COPY", start, error);
        return HwMapOutcome::Refused;
    }
    empty_frames(first + moved, count - moved);
    return HwMapOutcome::Mapped;
}

std::size_t UserfaultView::move_in(VirtAddr start, Pfn first, std::size_t count)
{
    std::size_t run = 0;
    while (run < count && m_arena.frame(first + run).test(PageFlag::AnonHome))
        ++run;
    if (run == 0)
        return 0;
    // Part way is fine: the rest is copied. (EBUSY: a page another process shares since a
    // fork, or one pinned by I/O in flight; EINVAL: the run crosses the end of a kernel VMA.)
    std::size_t moved = 0;
    (void)m_uffd.move(start, VirtAddr(m_arena.anon_slot(first)), run << kPageShift, &moved);
    moved >>= kPageShift;
    // Both places of these frames are empty now: the slot, and the memfd page, a hole.
    for (std::size_t i = 0; i < moved; ++i) {
        m_arena.frame(first + i).clear(PageFlag::AnonHome);
        m_arena.frame(first + i).set(PageFlag::Zeroed);
    }
    return moved;
}

void UserfaultView::move_back(VirtAddr start, Pfn first, std::size_t count)
{
    std::size_t moved = 0;
    auto result = m_uffd.move(VirtAddr(m_arena.anon_slot(first)), start, count << kPageShift, &moved);
    VM_ASSERT(result.has_value()); // the pages just came from there, and nobody else has them
    for (std::size_t i = 0; i < count; ++i) {
        m_arena.frame(first + i).set(PageFlag::AnonHome);
        m_arena.frame(first + i).clear(PageFlag::Zeroed);
    }
}

void UserfaultView::empty_frames(Pfn first, std::size_t count)
{
    // Slots of the anonymous map are emptied; memfd pages that are holes already (PG_zeroed)
    // need no punch; all of them are after.
    m_arena.drop_anon_home(first, count);
    for (std::size_t i = 0; i < count;) {
        std::size_t run = i;
        while (run < count && !m_arena.frame(first + run).test(PageFlag::Zeroed))
            ++run;
        if (run > i)
            (void)os::punch_hole(m_arena.fd(), m_arena.file_offset(first + i), (run - i) << kPageShift);
        i = run + 1;
    }
    for (std::size_t i = 0; i < count; ++i)
        m_arena.frame(first + i).set(PageFlag::Zeroed);
}

// The check reads the program's page, which the kernel's write protection keeps still, and
// the injected write stands for another thread's: ThreadSanitizer sees neither the protection
// nor the faults that order them, so this function is not instrumented.
__attribute__((no_sanitize("thread"))) HwMapOutcome UserfaultView::map_zero_page(VirtAddr start)
{
    if (auto mapped = m_uffd.zeropage(start, kPageSize); !mapped) {
        if (mapped.error().code() == ENOMEM)
            return HwMapOutcome::OutOfMemory;
        report_refusal("UFFDIO_ZEROPAGE", start, mapped.error().code());
        return HwMapOutcome::Refused;
    }
    if (os::take_injected_zero_page_write())
        start.ptr<volatile std::uint8_t>()[100] = 0x5a; // as another thread's write would, before the protection
    if (auto protected_page = m_uffd.set_write_protect(start, kPageSize, true); !protected_page) {
        report_refusal("UFFDIO_WRITEPROTECT", start, protected_page.error().code());
        (void)os::discard(start, kPageSize);
        return HwMapOutcome::Refused;
    }
    // Write-protected now: the page's bytes cannot change any more, and read as zeros unless a
    // write came in between.
    const auto* words = start.ptr<const volatile std::uint64_t>();
    std::uint64_t any = 0;
    for (std::size_t i = 0; i < kPageSize / sizeof(std::uint64_t); ++i)
        any |= words[i];
    return any == 0 ? HwMapOutcome::Mapped : HwMapOutcome::Written;
}

VmResult<void> UserfaultView::unmap(VirtAddr start, VirtAddr end)
{
    // Zero pages have no frame to go back to: they are dropped first, in runs of their own.
    VmResult<void> result;
    m_page_table.for_each_run(start, end, [this](Pte pte) { return holds(pte) && m_arena.is_zero_pfn(pte.pfn()); },
        [&](VirtAddr run_start, VirtAddr run_end) {
        if (result)
            result = discard(run_start, run_end);
    });
    // Then runs of neighbouring mapped pages of one protection, at most a pool's worth each.
    Pfn pfns[kPoolPages];
    std::size_t count = 0;
    VirtAddr run_start;
    os::HwProt run_prot = os::HwProt::None;
    auto prot_of = [](Pte pte) {
        return static_cast<os::HwProt>(static_cast<unsigned>(os::HwProt::Read) | (pte.hw_writable() ? 2u : 0u)
            | ((pte.raw() & Pte::kHwExec) ? 4u : 0u));
    };
    auto flush = [&]() {
        if (count == 0 || !result) {
            count = 0;
            return;
        }
        VmError error(0, "");
        std::size_t taken = take_out(run_start, pfns, count, run_prot, &error);
        PageTable::Entry* slots = m_page_table.walk(run_start);
        for (std::size_t i = 0; i < taken; ++i)
            slots[i].fetch_and(~Pte::kHwBits, std::memory_order_acq_rel);
        if (error.code() != 0)
            result = std::unexpected(error);
        count = 0;
    };
    m_page_table.for_each_slot(start, end, [&](VirtAddr address, PageTable::Entry& slot) {
        Pte pte(slot.load(std::memory_order_relaxed));
        if (!holds(pte)) {
            flush();
            return;
        }
        // A run stays in one PTE table, whose slots are consecutive in memory.
        bool table_start = (address.vpn() & (PageTable::kEntries - 1)) == 0;
        if (count > 0 && (count == kPoolPages || prot_of(pte) != run_prot
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

std::size_t UserfaultView::take_out(VirtAddr start, const Pfn* pfns, std::size_t count, os::HwProt prot, VmError* error)
{
    VM_ASSERT(count <= kPoolPages);
    auto bits = static_cast<unsigned>(prot);
    bool writable = bits & 2;
    VirtAddr pool = (bits & 4) ? m_pool.offset(kPoolPages << kPageShift) : m_pool;
    // A writable page may be written by another thread at any moment: it leaves the
    // reservation first, atomically, and is copied from where nobody else can reach it.
    if (writable && !(bits & 4) && m_arena.has_anon_map())
        return take_out_to_anon_map(start, pfns, count, error);
    VirtAddr from = start;
    std::size_t taken = count;
    if (writable) {
        std::size_t moved = 0;
        auto result = m_uffd.move(pool, start, count << kPageShift, &moved);
        // EINVAL before any page moved: the run crosses the end of a kernel VMA (two mappings
        // the kernel did not merge); a page at a time cannot. EBUSY: a page that cannot move,
        // and the pages after it go a page at a time.
        bool page_at_a_time = !result
            && ((result.error().code() == EINVAL && moved == 0 && count > 1) || result.error().code() == EBUSY);
        if (page_at_a_time) {
            result = {};
            for (std::size_t page = moved >> kPageShift; page < count && result; ++page) {
                result = move_out(start.offset(page << kPageShift), pool.offset(page << kPageShift), pfns[page]);
                if (result)
                    moved += kPageSize;
            }
        }
        if (!result) {
            *error = result.error();
            taken = moved >> kPageShift;
        }
        from = pool;
    }
    for (std::size_t i = 0; i < taken; ++i) {
        m_arena.frame(pfns[i]).clear(PageFlag::Zeroed);
        std::memcpy(m_arena.direct_map(pfns[i]), from.offset(i << kPageShift).ptr<std::byte>(), kPageSize);
    }
    if (taken > 0) {
        if (auto dropped = os::discard(from, taken << kPageShift); !dropped && taken == count) {
            *error = dropped.error();
            return writable ? taken : 0; // a read-only page that stays is still mapped
        }
    }
    return taken;
}

std::size_t UserfaultView::take_out_to_anon_map(VirtAddr start, const Pfn* pfns, std::size_t count, VmError* error)
{
    // One move for each run of consecutive frames, straight into their slots.
    VmResult<void> result;
    std::size_t taken = 0;
    while (taken < count && result) {
        std::size_t run = 1;
        while (taken + run < count && pfns[taken + run] == pfns[taken] + run)
            ++run;
        std::size_t moved = 0;
        VirtAddr from = start.offset(taken << kPageShift);
        result = m_uffd.move(VirtAddr(m_arena.anon_slot(pfns[taken])), from, run << kPageShift, &moved);
        std::size_t pages = moved >> kPageShift;
        // EINVAL: the run crosses the end of a kernel VMA; EBUSY: a page that cannot move.
        // The rest of the run goes a page at a time.
        if (!result && (result.error().code() == EINVAL || result.error().code() == EBUSY)) {
            result = {};
            for (; pages < run; ++pages) {
                Pfn pfn = pfns[taken + pages];
                result = move_out(from.offset(pages << kPageShift), VirtAddr(m_arena.anon_slot(pfn)), pfn);
                if (!result)
                    break;
            }
        }
        for (std::size_t i = taken; i < taken + pages; ++i) {
            m_arena.frame(pfns[i]).set(PageFlag::AnonHome);
            m_arena.frame(pfns[i]).clear(PageFlag::Zeroed);
        }
        taken += pages;
    }
    if (!result)
        *error = result.error();
    return taken;
}

VmResult<void> UserfaultView::move_out(VirtAddr page, VirtAddr to, Pfn pfn)
{
    std::size_t moved = 0;
    auto result = m_uffd.move(to, page, kPageSize, &moved);
    if (result || result.error().code() != EBUSY
        || m_arena.frame(pfn).pincount.load(std::memory_order_acquire) != 0 || !m_uffd.write_protect())
        return result;
    // Busy and not pinned by a system call: the page is shared copy-on-write with another
    // process (a child of fork(), or its parent). Write-protected first, so that no write of
    // another thread lands in a copy of its own unseen; then it is copied to (where, in the
    // pool, a missing page is filled only by UFFDIO_COPY) and dropped, and the other process
    // keeps the page.
    VM_TRY(m_uffd.set_write_protect(page, kPageSize, true));
    VM_TRY(m_uffd.copy(to, page.ptr<const std::byte>(), kPageSize, false));
    return os::discard(page, kPageSize);
}

VmResult<void> UserfaultView::discard(VirtAddr start, VirtAddr end)
{
    VM_TRY(os::discard(start, end - start));
    forget_held(m_page_table, start, end);
    return {};
}

void UserfaultView::protect(VirtAddr start, VirtAddr end, os::HwProt prot)
{
    if (os::protect(start, end - start, prot))
        (void)m_uffd.register_range(start, end - start);
}

} // namespace vmemu
