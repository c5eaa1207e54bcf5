#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vmemu/base/assert.hpp>
#include <vmemu/fault/mmu.hpp>
#include <vmemu/os/signals.hpp>

namespace vmemu {

namespace {
// The kernel would not map a frame, for a reason vmemu cannot remedy: the one line that says
// which call, where and why, before the fault's own report (async-signal-safe).
void report_refusal(const char* call, VirtAddr start, int error)
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
} // namespace

bool KernelMapBudget::try_charge(std::int64_t delta)
{
    if (delta <= 0) {
        charge(delta);
        return true;
    }
    std::int64_t used = m_used.load(std::memory_order_relaxed);
    do {
        if (used + delta > m_limit)
            return false;
    } while (!m_used.compare_exchange_weak(used, used + delta, std::memory_order_relaxed));
    return true;
}

Mmu::MapOutcome Mmu::map(VirtAddr start, Pfn first, std::size_t count, os::HwProt prot, std::int64_t mapping_delta)
{
    if (!m_budget.try_charge(mapping_delta))
        return MapOutcome::OverBudget;
    auto result = os::map_fixed_shared(start, count << kPageShift, prot, m_arena.fd(), m_arena.file_offset(first),
        os::Populate::Yes);
    if (!result) {
        m_budget.charge(-mapping_delta);
        if (result.error().code() == ENOMEM)
            return MapOutcome::KernelAtMapCount;
        report_refusal("mmap", start, result.error().code());
        return MapOutcome::KernelRefused;
    }
    m_stat.add(VmStatItem::NrKernelMappings, mapping_delta);
    return MapOutcome::Mapped;
}

VmResult<void> Mmu::unmap(VirtAddr start, std::size_t count, std::int64_t mapping_delta)
{
    auto result = os::map_fixed_reserved(start, count << kPageShift);
    if (!result)
        return result;
    // Under userfaultfd the reservation around is without huge pages: so is this part, or the
    // kernel would not merge it with its neighbours.
    if (m_uffd)
        os::no_huge_pages(start, count << kPageShift);
    m_budget.charge(mapping_delta);
    m_stat.add(VmStatItem::NrKernelMappings, mapping_delta);
    return {};
}

Mmu::MapOutcome Mmu::copy_in(VirtAddr start, Pfn first, std::size_t count, Source source)
{
    // Zeros come from pages nobody writes, which read as the kernel's zero page: copying
    // them costs no page of the memfd, as reading a punched frame would.
    static constexpr std::size_t kZeroPages = 64;
    alignas(kPageSize) static const std::byte zeros[kZeroPages << kPageShift] {};
    std::size_t bytes = count << kPageShift;
    auto copy = [&](std::size_t from, std::size_t pages) {
        const void* bytes_from = source == Source::Frame ? static_cast<const void*>(m_arena.direct_map(first + from))
                                                         : static_cast<const void*>(zeros);
        return m_uffd->copy(start.offset(from << kPageShift), bytes_from, pages << kPageShift);
    };
    VmResult<void> copied;
    for (std::size_t done = 0; done < count && copied; done += kZeroPages) {
        std::size_t pages = std::min(kZeroPages, count - done);
        copied = copy(done, pages);
        // ENOENT: the range crosses the end of a kernel VMA (two registered mappings the
        // kernel did not merge), before anything was copied; a page at a time cannot.
        if (!copied && copied.error().code() == ENOENT && pages > 1) {
            copied = {};
            for (std::size_t page = 0; page < pages && copied; ++page)
                copied = copy(done + page, 1);
        }
    }
    if (!copied) {
        // All of the range was missing: whatever part came goes again, so that no page is
        // mapped that no PTE records.
        (void)os::discard(start, bytes);
        if (copied.error().code() == ENOMEM)
            return MapOutcome::KernelOutOfMemory;
        report_refusal("UFFDIO_COPY", start, copied.error().code());
        return MapOutcome::KernelRefused;
    }
    // The bytes live in the reservation's page now; the frame's memfd page would hold them
    // twice. Frames that are holes already (PG_zeroed) need no punch; all of them are after.
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
    return MapOutcome::Mapped;
}

std::size_t Mmu::take_out(VirtAddr start, const Pfn* pfns, std::size_t count, os::HwProt prot, VmError* error)
{
    VM_ASSERT(count <= kPoolPages);
    auto bits = static_cast<unsigned>(prot);
    bool writable = bits & 2;
    VirtAddr pool = (bits & 4) ? m_pool.offset(kPoolPages << kPageShift) : m_pool;
    // A writable page may be written by another thread at any moment: it leaves the
    // reservation first, atomically, and is copied from where nobody else can reach it.
    VirtAddr from = start;
    std::size_t taken = count;
    if (writable) {
        std::size_t moved = 0;
        auto result = m_uffd->move(pool, start, count << kPageShift, &moved);
        // EINVAL before any page moved: the run crosses the end of a kernel VMA (two mappings
        // the kernel did not merge); a page at a time cannot.
        if (!result && result.error().code() == EINVAL && moved == 0 && count > 1) {
            result = {};
            for (std::size_t page = 0; page < count && result; ++page) {
                std::size_t one = 0;
                result = m_uffd->move(pool.offset(page << kPageShift), start.offset(page << kPageShift), kPageSize, &one);
                moved += one;
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

VmResult<void> Mmu::discard(VirtAddr start, std::size_t count)
{
    VM_ASSERT(userfault());
    return os::discard(start, count << kPageShift);
}

VmResult<void> Mmu::protect(VirtAddr start, std::size_t count, os::HwProt prot)
{
    VM_ASSERT(userfault());
    VM_TRY(os::protect(start, count << kPageShift, prot));
    return m_uffd->register_missing(start, count << kPageShift);
}

void Mmu::charge_reservation(std::int64_t delta)
{
    m_budget.charge(delta);
    m_stat.add(VmStatItem::NrKernelMappings, delta);
}

} // namespace vmemu
