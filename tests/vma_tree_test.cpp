#include <vmemu/mm/vma_tree.hpp>
#include <vector>
#include <vmemu/sync/scoped_lock.hpp>
#include "test_support.hpp"

namespace vmemu {
namespace {

VirtAddr page(std::uint64_t n) { return VirtAddr(n << kPageShift); }
constexpr std::uint32_t kRw = VmFlags::Read | VmFlags::Write;

TEST(VmaTree, FindVmaHasLinuxSemantics)
{
    AnonVmaCache anon_vmas;
    VmaTree tree(nullptr, anon_vmas, 100);
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
    AnonVmaCache anon_vmas;
    VmaTree tree(nullptr, anon_vmas, 100);
    Vma* vma = *tree.insert(page(10), page(20), kRw, 10);
    EXPECT_EQ(tree.find_vma(page(12)), vma);
    tree.erase(*vma);
    EXPECT_EQ(tree.find_vma(page(12)), nullptr);
    tree.verify_invariants();
}

TEST(VmaTree, SplitAndMergeAreInverse)
{
    AnonVmaCache anon_vmas;
    VmaTree tree(nullptr, anon_vmas, 100);
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
    AnonVmaCache anon_vmas;
    VmaTree tree(nullptr, anon_vmas, 100);
    Vma* low = *tree.insert(page(10), page(20), kRw, 10);
    Vma* high = *tree.insert(page(20), page(30), VmFlags::Read, 20, low->anon_vma());
    EXPECT_FALSE(low->can_merge_with(*high));
    high->set_flags(kRw);
    EXPECT_TRUE(low->can_merge_with(*high));
    Vma* moved = *tree.insert(page(30), page(40), kRw, 999, low->anon_vma()); // was created elsewhere
    EXPECT_FALSE(high->can_merge_with(*moved));
}

TEST(VmaTree, AnonVmasFollowMmapSplitMergeAndErase)
{
    AnonVmaCache anon_vmas;
    VmaTree tree(nullptr, anon_vmas, 100);
    Vma* low = *tree.insert(page(10), page(20), kRw, 10);
    // A neighbour that would merge takes the anon_vma of the VMA it merges with
    // (find_mergeable_anon_vma()); one that would not gets its own.
    EXPECT_EQ(tree.mergeable_anon_vma(page(20), page(30), kRw, 20), low->anon_vma());
    EXPECT_EQ(tree.mergeable_anon_vma(page(5), page(10), kRw, 5), low->anon_vma());
    EXPECT_EQ(tree.mergeable_anon_vma(page(20), page(30), VmFlags::Read, 20), nullptr);
    EXPECT_EQ(tree.mergeable_anon_vma(page(20), page(30), kRw, 77), nullptr);
    Vma* apart = *tree.insert(page(40), page(50), kRw, 40);
    EXPECT_NE(apart->anon_vma(), low->anon_vma());
    EXPECT_EQ(anon_vmas.in_use(), 2u);
    // VMAs with different anon_vmas never merge, even when everything else fits.
    Vma* between = *tree.insert(page(20), page(40), kRw, 20, apart->anon_vma());
    EXPECT_FALSE(low->can_merge_with(*between));
    EXPECT_TRUE(between->can_merge_with(*apart));
    // The pieces of a split share the anon_vma, and the walk finds each page in its piece.
    Vma* upper = *tree.split(*low, page(15));
    EXPECT_EQ(upper->anon_vma(), low->anon_vma());
    {
        SharedLock guard(low->anon_vma()->lock());
        EXPECT_EQ(low->anon_vma()->vma_count(), 2u);
        std::vector<std::uint64_t> found;
        low->anon_vma()->for_each_mapping(17, [&](AddressSpace*, std::uint64_t vpn) { found.push_back(vpn); });
        EXPECT_EQ(found, std::vector<std::uint64_t> { 17 });
    }
    tree.erase(*upper);
    tree.erase(*low);
    EXPECT_EQ(anon_vmas.in_use(), 1u); // the last VMA took its anon_vma back to the cache
    tree.verify_invariants();
}

TEST(VmaTree, MaxCountIsEnforced)
{
    AnonVmaCache anon_vmas;
    VmaTree tree(nullptr, anon_vmas, 2);
    Vma* vma = *tree.insert(page(10), page(20), kRw, 10);
    ASSERT_TRUE(tree.insert(page(30), page(40), kRw, 30));
    EXPECT_EQ(test::error_of(tree.insert(page(50), page(60), kRw, 50)), ENOMEM);
    EXPECT_EQ(test::error_of(tree.split(*vma, page(15))), ENOMEM);
    EXPECT_EQ(vma->end(), page(20)); // unchanged
    tree.verify_invariants();
}

} // namespace
} // namespace vmemu
