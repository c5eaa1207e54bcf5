#include <vmemu/base/assert.hpp>
#include <vmemu/mm/page_table.hpp>

namespace vmemu {

VmResult<PageTable> PageTable::create(PageAllocator& allocator, VmStat& stat, VmStatItem counter)
{
    auto pgd = allocator.alloc_page(ZeroFill::Yes);
    if (!pgd)
        return vm_fail(ENOMEM, "no free frame for a page global directory");
    allocator.arena().frame(*pgd).set_type(PageType::PageTable);
    stat.inc(counter);
    return PageTable(allocator, stat, counter, *pgd);
}

PageTable::PageTable(PageTable&& other) noexcept
    : m_allocator(other.m_allocator)
    , m_stat(other.m_stat)
    , m_counter(other.m_counter)
    , m_pgd(other.m_pgd)
    , m_table_pages(other.m_table_pages.load())
{
    other.m_allocator = nullptr;
}

PageTable::~PageTable()
{
    if (!m_allocator)
        return;
    free_tables(VirtAddr(std::uintptr_t { 0 }), VirtAddr(kUserAddressEnd));
    release_table(m_pgd);
}

std::optional<Pfn> PageTable::alloc_table()
{
    auto pfn = m_allocator->alloc_page(ZeroFill::Yes);
    if (!pfn)
        return std::nullopt;
    m_allocator->arena().frame(*pfn).set_type(PageType::PageTable);
    return pfn;
}

void PageTable::release_table(Pfn pfn)
{
    m_allocator->arena().frame(pfn).set_type(PageType::None);
    m_allocator->free_page(pfn);
    m_table_pages.fetch_sub(1, std::memory_order_relaxed);
    m_stat->dec(m_counter);
}

PageTable::Entry* PageTable::walk_alloc(VirtAddr address)
{
    Pfn pfn = m_pgd;
    for (unsigned level = 0; level < kLevels - 1; ++level) {
        Entry& entry = table(pfn)[index_of(address, level)];
        Pte value(entry.load(std::memory_order_acquire));
        if (!value.present()) {
            auto fresh = alloc_table();
            if (!fresh)
                return nullptr;
            std::uint64_t expected = 0;
            Pte installed = Pte::make(*fresh, Pte::kPresent | Pte::kWrite | Pte::kUser);
            if (entry.compare_exchange_strong(expected, installed.raw(), std::memory_order_acq_rel)) {
                value = installed;
                m_table_pages.fetch_add(1, std::memory_order_relaxed);
                m_stat->inc(m_counter);
            } else {
                // Another fault installed the table first; use theirs.
                m_allocator->arena().frame(*fresh).set_type(PageType::None);
                m_allocator->free_page(*fresh);
                value = Pte(expected);
            }
        }
        pfn = value.pfn();
    }
    return &table(pfn)[index_of(address, kLevels - 1)];
}

PageTable::Entry* PageTable::walk(VirtAddr address) const
{
    Pfn pfn = m_pgd;
    for (unsigned level = 0; level < kLevels - 1; ++level) {
        Pte value(table(pfn)[index_of(address, level)].load(std::memory_order_acquire));
        if (!value.present())
            return nullptr;
        pfn = value.pfn();
    }
    return &table(pfn)[index_of(address, kLevels - 1)];
}

unsigned PageTable::walk_steps(VirtAddr address, WalkStep (&steps)[kLevels]) const
{
    Pfn pfn = m_pgd;
    for (unsigned level = 0; level < kLevels; ++level) {
        unsigned index = index_of(address, level);
        steps[level] = { pfn, index, Pte(table(pfn)[index].load(std::memory_order_acquire)) };
        if (level + 1 == kLevels || !steps[level].entry.present())
            return level + 1;
        pfn = steps[level].entry.pfn();
    }
    return kLevels;
}

VirtAddr PageTable::next_table_or(VirtAddr address, VirtAddr end) const
{
    while (address < end) {
        Pfn pfn = m_pgd;
        unsigned level = 0;
        for (; level < kLevels - 1; ++level) {
            Pte value(table(pfn)[index_of(address, level)].load(std::memory_order_acquire));
            if (!value.present())
                break;
            pfn = value.pfn();
        }
        if (level == kLevels - 1)
            return address;
        // Skip the whole range the missing entry would have covered.
        std::uintptr_t span = std::uintptr_t { 1 } << shift_of(level);
        std::uintptr_t next = (address.get() & ~(span - 1)) + span;
        if (next <= address.get())
            return end;
        address = VirtAddr(next);
    }
    return end;
}

bool PageTable::free_tables_in(Pfn pfn, unsigned level, std::uintptr_t base, VirtAddr start, VirtAddr end)
{
    Entry* entries = table(pfn);
    std::uintptr_t span = std::uintptr_t { 1 } << shift_of(level);
    bool empty = true;
    for (unsigned i = 0; i < kEntries; ++i) {
        Pte value(entries[i].load(std::memory_order_acquire));
        if (value.none())
            continue;
        std::uintptr_t entry_start = base + i * span;
        std::uintptr_t entry_end = entry_start + span;
        if (level == kLevels - 1 || entry_end <= start.get() || entry_start >= end.get()) {
            empty = false;
            continue;
        }
        bool child_empty = free_tables_in(value.pfn(), level + 1, entry_start, start, end);
        if (child_empty && entry_start >= start.get() && entry_end <= end.get()) {
            entries[i].store(0, std::memory_order_release);
            release_table(value.pfn());
        } else {
            empty = false;
        }
    }
    return empty;
}

void PageTable::free_tables(VirtAddr start, VirtAddr end)
{
    if (start < end)
        free_tables_in(m_pgd, 0, 0, start, end);
}

unsigned PageTable::verify_table(Pfn pfn, unsigned level) const
{
    const PageFrame& frame = m_allocator->arena().frame(pfn);
    VM_ASSERT(frame.type() == PageType::PageTable);
    VM_ASSERT(frame.refcount.load() == 1);
    unsigned tables = 1;
    for (unsigned i = 0; i < kEntries; ++i) {
        Pte value(table(pfn)[i].load(std::memory_order_acquire));
        if (value.none())
            continue;
        if (level < kLevels - 1) {
            VM_ASSERT(value.present());
            tables += verify_table(value.pfn(), level + 1);
        } else if (value.present()) {
            VM_ASSERT(m_allocator->arena().is_valid(value.pfn()));
            VM_ASSERT(!value.hw_mapped() || value.present());
            VM_ASSERT(!value.hw_writable() || (value.writable() && value.hw_mapped()));
        }
    }
    return tables;
}

void PageTable::verify_invariants() const
{
    VM_ASSERT(verify_table(m_pgd, 0) == m_table_pages.load());
}

} // namespace vmemu
