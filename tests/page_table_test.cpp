#include <vmemu/mm/page_table.hpp>
#include "test_support.hpp"

namespace vmemu {
namespace {

struct PageTableFixture : ::testing::Test {
    std::unique_ptr<FrameArena> arena = std::move(*FrameArena::create(1024));
    VmStat stat;
    PageAllocator allocator { *arena, stat };
};

TEST_F(PageTableFixture, WalkAllocBuildsFourLevels)
{
    auto table = PageTable::create(allocator, stat);
    ASSERT_TRUE(table);
    EXPECT_EQ(table->table_pages(), 1u);
    VirtAddr address(std::uintptr_t { 0x7f1234567000 });
    EXPECT_EQ(table->walk(address), nullptr);
    auto* slot = table->walk_alloc(address);
    ASSERT_NE(slot, nullptr);
    EXPECT_EQ(table->table_pages(), 4u); // PGD, PUD, PMD, PTE
    EXPECT_EQ(stat.value(VmStatItem::NrPageTablePages), 4);
    slot->store(Pte::make(Pfn(42), Pte::kPresent | Pte::kWrite).raw());
    EXPECT_EQ(table->lookup(address).pfn(), Pfn(42));
    EXPECT_TRUE(table->lookup(address).writable());
    // The neighbouring page shares the PTE table; 2 MiB away needs a new one.
    ASSERT_NE(table->walk_alloc(address.offset(kPageSize)), nullptr);
    EXPECT_EQ(table->table_pages(), 4u);
    ASSERT_NE(table->walk_alloc(address.offset(PageTable::kPteTableSpan)), nullptr);
    EXPECT_EQ(table->table_pages(), 5u);
    table->verify_invariants();
    slot->store(0);
}

TEST_F(PageTableFixture, ForEachSlotSkipsMissingTables)
{
    auto table = std::move(*PageTable::create(allocator, stat));
    VirtAddr base(std::uintptr_t { 0x10000000 });
    table.walk_alloc(base);
    table.walk_alloc(base.offset(10 * PageTable::kPteTableSpan));
    std::size_t visited = 0;
    table.for_each_slot(base, base.offset(20 * PageTable::kPteTableSpan), [&](VirtAddr, PageTable::Entry&) { ++visited; });
    EXPECT_EQ(visited, 2 * PageTable::kEntries);
    EXPECT_EQ(table.next_table_or(base.offset(kPageSize * 600), base.offset(100 * PageTable::kPteTableSpan)),
        base.offset(10 * PageTable::kPteTableSpan));
}

TEST_F(PageTableFixture, FreeTablesFreesOnlyTablesInsideTheRange)
{
    auto table = std::move(*PageTable::create(allocator, stat));
    std::size_t free_before = allocator.buddy().nr_free();
    VirtAddr base(std::uintptr_t { 0x40000000 }); // 1 GiB aligned
    for (int i = 0; i < 4; ++i)
        table.walk_alloc(base.offset(i * PageTable::kPteTableSpan));
    EXPECT_EQ(table.table_pages(), 1u + 1 + 1 + 4);
    // A range that covers table 1 fully and table 2 only in part frees table 1 alone.
    table.free_tables(base.offset(PageTable::kPteTableSpan), base.offset(2 * PageTable::kPteTableSpan + kPageSize));
    EXPECT_EQ(table.table_pages(), 6u);
    EXPECT_EQ(table.walk(base.offset(PageTable::kPteTableSpan)), nullptr);
    EXPECT_NE(table.walk(base.offset(2 * PageTable::kPteTableSpan)), nullptr);
    // The whole gigabyte frees the PTE tables and the PMD; the PUD stays under the PGD.
    table.free_tables(base, base.offset(std::uintptr_t { 1 } << 30));
    EXPECT_EQ(table.table_pages(), 2u);
    table.verify_invariants();
    EXPECT_EQ(allocator.buddy().nr_free(), free_before - 1);
}

TEST_F(PageTableFixture, DestructorReturnsEveryTable)
{
    std::size_t free_before = allocator.buddy().nr_free();
    {
        auto table = std::move(*PageTable::create(allocator, stat));
        table.walk_alloc(VirtAddr(std::uintptr_t { 0x7f0000000000 }));
        table.walk_alloc(VirtAddr(std::uintptr_t { 0x100000 }));
    }
    EXPECT_EQ(allocator.buddy().nr_free(), free_before);
    EXPECT_EQ(stat.value(VmStatItem::NrPageTablePages), 0);
    allocator.buddy().verify_invariants();
}

TEST(Pte, BitsAndFrameNumber)
{
    Pte pte = Pte::make(Pfn(0x12345), Pte::kPresent | Pte::kDirty);
    EXPECT_TRUE(pte.present());
    EXPECT_TRUE(pte.dirty());
    EXPECT_FALSE(pte.writable());
    EXPECT_FALSE(pte.accessed());
    EXPECT_EQ(pte.pfn(), Pfn(0x12345));
    EXPECT_TRUE(pte.with(Pte::kWrite).writable());
    EXPECT_EQ(pte.with(Pte::kWrite).pfn(), Pfn(0x12345));
    EXPECT_TRUE(Pte().none());
}

} // namespace
} // namespace vmemu
