#include <vmemu/mm/vma_tree.hpp>
#include "test_support.hpp"

namespace vmemu {
namespace {

VirtAddr page(std::uint64_t n) { return VirtAddr(n << kPageShift); }
constexpr std::uint32_t kRw = VmFlags::Read | VmFlags::Write;

TEST(VmaTree, FindVmaHasLinuxSemantics)
{
    VmaTree tree(100);
    ASSERT_TRUE(tree.insert(page(10), page(20), kRw, 10));
    ASSERT_TRUE(tree.insert(page(30), page(40), kRw, 30));
    tree.verify_invariants();
    // find_vma() returns the first VMA ending above the address, which may start above it.
    EXPECT_EQ(tree.find_vma(page(0))->start(), page(10));
    EXPECT_EQ(tree.find_vma(page(15))->start(), page(10));
    EXPECT_EQ(tree.find_vma(page(20))->start(), page(30));
    EXPECT_EQ(tree.find_vma(page(39).offset(100))->start(), page(30));
    EXPECT_EQ(tree.find_vma(page(40)), nullptr);
    EXPECT_EQ(tree.find_vma_intersection(page(20), page(30)), nullptr);
    EXPECT_NE(tree.find_vma_intersection(page(19), page(30)), nullptr);
    tree.verify_invariants(); // the cache points into the tree
}

TEST(VmaTree, CacheIsDroppedOnErase)
{
    VmaTree tree(100);
    Vma* vma = *tree.insert(page(10), page(20), kRw, 10);
    EXPECT_EQ(tree.find_vma(page(12)), vma);
    tree.erase(*vma);
    EXPECT_EQ(tree.find_vma(page(12)), nullptr);
    tree.verify_invariants();
}

TEST(VmaTree, SplitAndMergeAreInverse)
{
    VmaTree tree(100);
    Vma* vma = *tree.insert(page(10), page(20), kRw, 10);
    Vma* upper = *tree.split(*vma, page(14));
    tree.verify_invariants();
    EXPECT_EQ(tree.size(), 2u);
    EXPECT_EQ(vma->end(), page(14));
    EXPECT_EQ(upper->start(), page(14));
    EXPECT_EQ(upper->pgoff(), 14u);
    EXPECT_TRUE(vma->can_merge_with(*upper));
    Vma& merged = tree.try_merge_around(*upper);
    EXPECT_EQ(tree.size(), 1u);
    EXPECT_EQ(merged.start(), page(10));
    EXPECT_EQ(merged.end(), page(20));
    tree.verify_invariants();
}

TEST(VmaTree, DifferentFlagsOrOffsetsDoNotMerge)
{
    VmaTree tree(100);
    Vma* low = *tree.insert(page(10), page(20), kRw, 10);
    Vma* high = *tree.insert(page(20), page(30), VmFlags::Read, 20);
    EXPECT_FALSE(low->can_merge_with(*high));
    high->set_flags(kRw);
    EXPECT_TRUE(low->can_merge_with(*high));
    Vma* moved = *tree.insert(page(30), page(40), kRw, 999); // was created elsewhere
    EXPECT_FALSE(high->can_merge_with(*moved));
}

TEST(VmaTree, MaxCountIsEnforced)
{
    VmaTree tree(2);
    Vma* vma = *tree.insert(page(10), page(20), kRw, 10);
    ASSERT_TRUE(tree.insert(page(30), page(40), kRw, 30));
    EXPECT_EQ(test::error_of(tree.insert(page(50), page(60), kRw, 50)), ENOMEM);
    EXPECT_EQ(test::error_of(tree.split(*vma, page(15))), ENOMEM);
    EXPECT_EQ(vma->end(), page(20)); // unchanged
    tree.verify_invariants();
}

} // namespace
} // namespace vmemu
