#include <cstring>
#include <map>
#include <random>
#include <vmemu/phys/buddy_allocator.hpp>
#include <vmemu/phys/watermarks.hpp>
#include "test_support.hpp"

namespace vmemu {
namespace {

std::unique_ptr<FrameArena> make_arena(std::size_t frames)
{
    auto arena = FrameArena::create(frames);
    EXPECT_TRUE(arena.has_value());
    return std::move(*arena);
}

TEST(Buddy, StartsWithMaximalAlignedBlocks)
{
    auto arena = make_arena(3000); // 2048 + 512 + 256 + 128 + 32 + 16 + 8
    BuddyAllocator buddy(*arena);
    buddy.verify_invariants();
    EXPECT_EQ(buddy.nr_free(), 3000u);
    auto blocks = buddy.free_blocks();
    EXPECT_EQ(blocks[10], 2u);
    EXPECT_EQ(blocks[9], 1u);
    EXPECT_EQ(blocks[8], 1u);
    EXPECT_EQ(blocks[7], 1u);
    EXPECT_EQ(blocks[5], 1u);
    EXPECT_EQ(blocks[4], 1u);
    EXPECT_EQ(blocks[3], 1u);
}

TEST(Buddy, SplitsAndMergesBack)
{
    auto arena = make_arena(1024);
    BuddyAllocator buddy(*arena);
    auto page = buddy.alloc_pages(0);
    ASSERT_TRUE(page);
    EXPECT_EQ(page->get(), 0u); // expand() keeps the lower half
    auto blocks = buddy.free_blocks();
    for (unsigned order = 0; order < 10; ++order)
        EXPECT_EQ(blocks[order], 1u) << "order " << order;
    EXPECT_EQ(blocks[10], 0u);
    EXPECT_EQ(arena->frame(*page).refcount.load(), 1);
    buddy.verify_invariants();
    buddy.free_pages(*page, 0);
    buddy.verify_invariants();
    blocks = buddy.free_blocks();
    EXPECT_EQ(blocks[10], 1u);
    EXPECT_EQ(buddy.nr_free(), 1024u);
}

TEST(Buddy, BlocksAreAlignedToTheirSize)
{
    auto arena = make_arena(4096);
    BuddyAllocator buddy(*arena);
    (void)buddy.alloc_pages(0);
    for (unsigned order = 0; order <= BuddyAllocator::kMaxOrder; ++order) {
        auto block = buddy.alloc_pages(order);
        ASSERT_TRUE(block) << order;
        EXPECT_EQ(block->get() % (1u << order), 0u) << order;
        buddy.verify_invariants();
    }
}

TEST(Buddy, ExhaustionReturnsNothing)
{
    auto arena = make_arena(256);
    BuddyAllocator buddy(*arena);
    EXPECT_FALSE(buddy.alloc_pages(9)); // 512 > 256
    std::vector<Pfn> pages;
    while (auto page = buddy.alloc_pages(0))
        pages.push_back(*page);
    EXPECT_EQ(pages.size(), 256u);
    EXPECT_EQ(buddy.nr_free(), 0u);
    buddy.verify_invariants();
    for (Pfn pfn : pages)
        buddy.free_pages(pfn, 0);
    buddy.verify_invariants();
    EXPECT_EQ(buddy.free_blocks()[8], 1u);
}

TEST(Buddy, AllocRangeTakesExactlyTheFramesAskedFor)
{
    auto arena = make_arena(1024);
    BuddyAllocator buddy(*arena);
    ASSERT_TRUE(buddy.alloc_range(Pfn(5), 11)); // [5, 16): crosses several block sizes
    buddy.verify_invariants();
    EXPECT_EQ(buddy.nr_free(), 1024u - 11);
    for (unsigned pfn = 5; pfn < 16; ++pfn)
        EXPECT_EQ(arena->frame(Pfn(pfn)).refcount.load(), 1);
    EXPECT_EQ(arena->frame(Pfn(4)).refcount.load(), 0);
    EXPECT_EQ(arena->frame(Pfn(16)).refcount.load(), 0);
    // Overlapping an allocated frame fails and changes nothing.
    EXPECT_FALSE(buddy.alloc_range(Pfn(0), 6));
    EXPECT_FALSE(buddy.alloc_range(Pfn(1020), 8)); // past the end
    buddy.verify_invariants();
    EXPECT_EQ(buddy.nr_free(), 1024u - 11);
    buddy.free_range(Pfn(5), 11);
    buddy.verify_invariants();
    EXPECT_EQ(buddy.free_blocks()[10], 1u);
}

TEST(Buddy, RandomAllocAndFreeKeepsInvariants)
{
    auto arena = make_arena(2000);
    BuddyAllocator buddy(*arena);
    std::mt19937 random(7);
    std::map<std::uint64_t, unsigned> live; // pfn -> order
    std::size_t allocated = 0;
    for (int step = 0; step < 3000; ++step) {
        if (live.empty() || random() % 3 != 0) {
            unsigned order = random() % 6;
            if (auto block = buddy.alloc_pages(order)) {
                for (auto& [pfn, o] : live)
                    ASSERT_TRUE(pfn + (1u << o) <= block->get() || block->get() + (1u << order) <= pfn);
                live[block->get()] = order;
                allocated += 1u << order;
            }
        } else {
            auto it = std::next(live.begin(), static_cast<long>(random() % live.size()));
            buddy.free_pages(Pfn(it->first), it->second);
            allocated -= 1u << it->second;
            live.erase(it);
        }
        ASSERT_EQ(buddy.nr_free() + allocated, 2000u);
        if (step % 100 == 0)
            buddy.verify_invariants();
    }
    for (auto& [pfn, order] : live)
        buddy.free_pages(Pfn(pfn), order);
    buddy.verify_invariants();
    EXPECT_EQ(buddy.nr_free(), 2000u);
}

TEST(Watermarks, DerivedAsLinuxDerivesThem)
{
    // 16 GiB: min_free_kbytes = sqrt(16 GiB in kB * 16) = 16384 kB = 4096 pages; the
    // scale-factor step (0.1% of 4194304 pages = 4194) beats min/4.
    auto big = Watermarks::for_managed_pages(4194304);
    EXPECT_EQ(Watermarks::min_free_kbytes(4194304), 16384u);
    EXPECT_EQ(big.min, 4096u);
    EXPECT_EQ(big.low, 4096u + 4194u);
    EXPECT_EQ(big.high, 4096u + 2 * 4194u);
    // 64 MiB: sqrt(65536 * 16) = 1024 kB = 256 pages; min/4 = 64 beats 16.
    auto small = Watermarks::for_managed_pages(16384);
    EXPECT_EQ(small.min, 256u);
    EXPECT_EQ(small.low, 320u);
    EXPECT_EQ(small.high, 384u);
    // The clamps: never below 128 kB, never above 256 MiB.
    EXPECT_EQ(Watermarks::min_free_kbytes(256), 128u);
    EXPECT_EQ(Watermarks::min_free_kbytes(std::size_t { 1 } << 40), 262144u);
}

TEST(FrameArena, RejectsBadSizes)
{
    EXPECT_EQ(FrameArena::create(0).error().code(), EINVAL);
    EXPECT_EQ(FrameArena::create(std::size_t { 1 } << 60).error().code(), EINVAL);
}

TEST(FrameArena, ZeroFramesAreZeroAndColoured)
{
    auto arena = make_arena(256);
    EXPECT_TRUE(arena->is_zero_pfn(arena->zero_pfn(0)));
    EXPECT_EQ(arena->zero_pfn(1).get(), arena->zero_pfn(0).get() + 1);
    EXPECT_EQ(arena->zero_pfn(FrameArena::kZeroFrames).get(), arena->zero_pfn(0).get());
    for (std::size_t i = 0; i < FrameArena::kZeroFrames; ++i) {
        const std::byte* bytes = arena->direct_map(arena->zero_pfn(i));
        for (std::size_t b = 0; b < kPageSize; ++b)
            ASSERT_EQ(bytes[b], std::byte { 0 });
    }
}

TEST(FrameArena, ZeroFramesSkipsKnownZeroFramesAndClearsUsedOnes)
{
    auto arena = make_arena(256);
    std::memset(arena->direct_map(Pfn(3)), 0xab, kPageSize);
    arena->frame(Pfn(3)).clear(PageFlag::Zeroed); // the frame was used
    arena->zero_frames(Pfn(2), 3);
    for (std::uint64_t pfn = 2; pfn < 5; ++pfn) {
        EXPECT_FALSE(arena->frame(Pfn(pfn)).test(PageFlag::Zeroed));
        EXPECT_EQ(arena->direct_map(Pfn(pfn))[100], std::byte { 0 });
    }
}

} // namespace
} // namespace vmemu
