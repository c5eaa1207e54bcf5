// Copy-on-write fork of address spaces: sharing, COW and reuse, the zero page, swap entries
// shared through swap_map, the reverse map across address spaces, and a fork storm checked
// byte for byte against a shadow copy of every address space.
#include <cstring>
#include <random>
#include <string>
#include <vector>
#include <vmemu/reclaim/kswapd.hpp>
#include "test_support.hpp"

namespace vmemu {
namespace {

using test::make_space;
using test::map_anon;

using test::make_swapping_machine;
using test::stat_of;

// The same place in another address space: a child's VMAs lie at the parent's offsets.
std::byte* in(const AddressSpace& space, const AddressSpace& parent, VirtAddr address)
{
    return space.reservation_start().offset(address - parent.reservation_start()).ptr<std::byte>();
}

void fill(std::byte* page, std::uint8_t seed)
{
    for (std::size_t i = 0; i < kPageSize; ++i)
        page[i] = static_cast<std::byte>(seed + i * 7);
}

bool holds(const std::byte* page, std::uint8_t seed)
{
    for (std::size_t i = 0; i < kPageSize; ++i) {
        if (page[i] != static_cast<std::byte>(seed + i * 7))
            return false;
    }
    return true;
}

// pages of fresh anonymous memory, page i filled with seed i.
VirtAddr map_filled(AddressSpace& space, std::size_t pages)
{
    VirtAddr base = map_anon(space, pages * kPageSize);
    for (std::size_t i = 0; i < pages; ++i)
        fill(base.offset(i * kPageSize).ptr<std::byte>(), static_cast<std::uint8_t>(i));
    return base;
}

TEST(CowFork, ChildSharesPagesUntilEitherSideWrites)
{
    auto machine = test::make_machine(1024);
    auto parent = make_space(*machine);
    constexpr std::size_t kPages = 64;
    VirtAddr base = map_filled(*parent, kPages);
    std::size_t free_before = machine->free_frames();
    std::int64_t anon_before = stat_of(*machine, VmStatItem::NrAnonPages);

    auto forked = parent->fork();
    ASSERT_TRUE(forked.has_value()) << forked.error().what();
    auto& child = **forked;
    EXPECT_EQ(child.vma_count(), parent->vma_count());
    EXPECT_EQ(child.maps().size(), parent->maps().size());
    // No page is copied by the fork (only the child's page tables take frames), and AnonPages
    // counts the shared pages once.
    EXPECT_GE(machine->free_frames() + 8, free_before);
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrAnonPages), anon_before);
    for (std::size_t i = 0; i < kPages; ++i)
        ASSERT_TRUE(holds(in(child, *parent, base.offset(i * kPageSize)), static_cast<std::uint8_t>(i))) << i;
    EXPECT_EQ(child.rss_pages(), kPages);

    // A write on either side is private to it.
    std::int64_t cow_before = stat_of(*machine, VmStatItem::CowFault);
    fill(base.ptr<std::byte>(), 200);
    fill(in(child, *parent, base.offset(kPageSize)), 201);
    EXPECT_EQ(stat_of(*machine, VmStatItem::CowFault), cow_before + 2);
    EXPECT_TRUE(holds(base.ptr<std::byte>(), 200));
    EXPECT_TRUE(holds(in(child, *parent, base), 0));
    EXPECT_TRUE(holds(base.offset(kPageSize).ptr<std::byte>(), 1));
    EXPECT_TRUE(holds(in(child, *parent, base.offset(kPageSize)), 201));
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrAnonPages), anon_before + 2);
    child.verify_invariants();
    parent->verify_invariants();

    // With the child gone, the parent is every page's only user: a write reuses the frame.
    forked->reset();
    std::int64_t reuse_before = stat_of(*machine, VmStatItem::PgReuse);
    std::size_t free_after_exit = machine->free_frames();
    fill(base.offset(2 * kPageSize).ptr<std::byte>(), 202);
    EXPECT_EQ(stat_of(*machine, VmStatItem::PgReuse), reuse_before + 1);
    EXPECT_EQ(stat_of(*machine, VmStatItem::CowFault), cow_before + 2);
    EXPECT_EQ(machine->free_frames(), free_after_exit);
    EXPECT_EQ(stat_of(*machine, VmStatItem::NrAnonPages), anon_before);
    parent->verify_invariants();
}

// The value, in kB, of field in an smaps text with one VMA.
long smaps_kb(const std::string& smaps, const std::string& field)
{
    auto at = smaps.find("\n" + field + ":");
    return at == std::string::npos ? -1 : std::stol(smaps.substr(at + field.size() + 2));
}

TEST(CowFork, SmapsTellsSharedFromPrivateAndSplitsPssAndSwap)
{
    auto machine = make_swapping_machine(1024, 8 * test::kMiB, false);
    auto parent = make_space(*machine);
    constexpr std::size_t kPages = 64;
    VirtAddr base = map_filled(*parent, kPages);
    auto child = std::move(*parent->fork());
    std::string text = parent->smaps();
    EXPECT_EQ(smaps_kb(text, "Rss"), 256);
    EXPECT_EQ(smaps_kb(text, "Shared_Dirty"), 256) << text;
    EXPECT_EQ(smaps_kb(text, "Private_Dirty"), 0);
    EXPECT_EQ(smaps_kb(text, "Pss"), 128);
    // The child copies 16 pages: those are private on both sides now.
    for (std::size_t i = 0; i < 16; ++i)
        fill(in(*child, *parent, base.offset(i * kPageSize)), 77);
    for (const std::string& side : { parent->smaps(), child->smaps() }) {
        EXPECT_EQ(smaps_kb(side, "Shared_Dirty"), 192) << side;
        EXPECT_EQ(smaps_kb(side, "Private_Dirty"), 64);
        EXPECT_EQ(smaps_kb(side, "Pss"), 64 + 96);
        EXPECT_EQ(smaps_kb(side, "Swap"), 0);
    }
    // Swapped out, the shared pages count in Swap on both sides and half in SwapPss.
    machine->reclaim(machine->frame_count());
    machine->wait_for_swap_io();
    for (const std::string& side : { parent->smaps(), child->smaps() }) {
        long swap = smaps_kb(side, "Swap");
        EXPECT_GT(swap, 0) << side;
        EXPECT_EQ(smaps_kb(side, "Rss") + swap, 256);
        EXPECT_LT(smaps_kb(side, "SwapPss"), swap);
    }
}

TEST(CowFork, ZeroPageIsACopyOnWriteSource)
{
    auto machine = test::make_machine(1024);
    auto parent = make_space(*machine);
    VirtAddr base = map_anon(*parent, 4 * kPageSize);
    volatile std::byte read = base.ptr<std::byte>()[100]; // maps the zero page
    (void)read;
    auto child = std::move(*parent->fork());
    std::byte* child_page = in(*child, *parent, base);
    EXPECT_EQ(child_page[100], std::byte { 0 });
    child_page[100] = std::byte { 42 };
    EXPECT_EQ(child_page[100], std::byte { 42 });
    EXPECT_EQ(base.ptr<std::byte>()[100], std::byte { 0 });
    child->verify_invariants();
    parent->verify_invariants();
}

TEST(CowFork, SwappedPagesAreSharedThroughTheirSlots)
{
    auto machine = make_swapping_machine(512, 8 * test::kMiB, false);
    auto parent = make_space(*machine);
    constexpr std::size_t kPages = 256;
    VirtAddr base = map_filled(*parent, kPages);
    ASSERT_TRUE(parent->madvise(base, kPages * kPageSize, MADV_PAGEOUT).has_value());
    machine->wait_for_swap_io();
    std::int64_t out_before = stat_of(*machine, VmStatItem::PswpOut);
    ASSERT_GT(out_before, 0);

    auto child = std::move(*parent->fork());
    // Both read every page back: from the device once, and from the swap cache for the other.
    for (std::size_t i = 0; i < kPages; ++i) {
        ASSERT_TRUE(holds(in(*child, *parent, base.offset(i * kPageSize)), static_cast<std::uint8_t>(i))) << i;
        ASSERT_TRUE(holds(base.offset(i * kPageSize).ptr<std::byte>(), static_cast<std::uint8_t>(i))) << i;
    }
    // The child's writes stay its own, and the parent's bytes survive another round of swap.
    for (std::size_t i = 0; i < kPages; i += 2)
        fill(in(*child, *parent, base.offset(i * kPageSize)), static_cast<std::uint8_t>(i + 100));
    machine->reclaim(machine->frame_count());
    machine->wait_for_swap_io();
    for (std::size_t i = 0; i < kPages; ++i) {
        std::uint8_t child_seed = static_cast<std::uint8_t>(i % 2 == 0 ? i + 100 : i);
        ASSERT_TRUE(holds(base.offset(i * kPageSize).ptr<std::byte>(), static_cast<std::uint8_t>(i))) << i;
        ASSERT_TRUE(holds(in(*child, *parent, base.offset(i * kPageSize)), child_seed)) << i;
    }
    child->verify_invariants();
    parent->verify_invariants();
    child.reset();
    parent.reset();
    machine->wait_for_swap_io();
    machine->verify_invariants();
    EXPECT_EQ(machine->swap()->device().slots().nr_free(), machine->swap()->device().slots().total_slots());
}

TEST(CowFork, ReclaimUnmapsASharedPageEverywhereAndBothGetItBack)
{
    auto machine = make_swapping_machine(512, 8 * test::kMiB, false);
    auto parent = make_space(*machine);
    constexpr std::size_t kPages = 128;
    VirtAddr base = map_filled(*parent, kPages);
    auto child = std::move(*parent->fork());
    // The child moves its copy: the reverse map finds it by its anon_vma and linear index.
    VirtAddr child_base = VirtAddr(reinterpret_cast<std::uintptr_t>(in(*child, *parent, base)));
    auto moved = child->mremap(child_base, kPages * kPageSize, kPages * kPageSize, MREMAP_MAYMOVE | MREMAP_FIXED,
        VirtAddr(child_base.get() - 64 * test::kMiB));
    ASSERT_TRUE(moved.has_value()) << moved.error().what();
    std::size_t free_before = machine->free_frames();
    std::int64_t out_before = stat_of(*machine, VmStatItem::PswpOut);
    machine->reclaim(machine->frame_count());
    machine->wait_for_swap_io();
    // The shared pages left memory for both: written once, one frame each freed.
    EXPECT_GE(stat_of(*machine, VmStatItem::PswpOut) - out_before, static_cast<std::int64_t>(kPages) / 2);
    EXPECT_GT(machine->free_frames(), free_before + kPages / 2);
    EXPECT_LT(parent->rss_pages(), kPages / 2);
    EXPECT_LT(child->rss_pages(), kPages / 2);
    for (std::size_t i = 0; i < kPages; ++i) {
        ASSERT_TRUE(holds(moved->offset(i * kPageSize).ptr<std::byte>(), static_cast<std::uint8_t>(i))) << i;
        ASSERT_TRUE(holds(base.offset(i * kPageSize).ptr<std::byte>(), static_cast<std::uint8_t>(i))) << i;
    }
    child->verify_invariants();
    parent->verify_invariants();
}

TEST(CowFork, PinnedPagesAreCopiedAtOnce)
{
    auto machine = test::make_machine(1024);
    auto parent = make_space(*machine);
    VirtAddr base = map_anon(*parent, 2 * kPageSize);
    fill(base.ptr<std::byte>(), 1);
    PageFrame* pinned[1];
    ASSERT_EQ(parent->pin_user_pages(base, kPageSize, true, pinned), 1u);
    auto child = std::move(*parent->fork());
    // A system call writing the pinned page now (through the direct map, as the kernel would)
    // writes the parent's page only.
    fill(static_cast<std::byte*>(machine->arena().direct_map(machine->arena().pfn_of(*pinned[0]))), 9);
    parent->unpin_user_pages(pinned, 1);
    EXPECT_TRUE(holds(base.ptr<std::byte>(), 9));
    EXPECT_TRUE(holds(in(*child, *parent, base), 1));
}

TEST(CowFork, OverTheCommitLimitForkFailsAndChangesNothing)
{
    MachineConfig config { .frames = 1024, .oom_policy = OomPolicy::FailMappings };
    auto machine = std::move(*Machine::create(config));
    auto parent = make_space(*machine);
    VirtAddr base = map_anon(*parent, 700 * kPageSize);
    fill(base.ptr<std::byte>(), 5);
    auto child = parent->fork();
    ASSERT_FALSE(child.has_value());
    EXPECT_EQ(child.error().code(), ENOMEM);
    EXPECT_TRUE(holds(base.ptr<std::byte>(), 5));
    fill(base.ptr<std::byte>(), 6);
    EXPECT_TRUE(holds(base.ptr<std::byte>(), 6));
    parent->verify_invariants();
}

// Many forks, writes on every side, reclaim and kswapd running, swap shared between
// generations: every byte of every address space is checked against its shadow.
TEST(CowFork, ForkStormKeepsEverySpaceExact)
{
    bool kswapd = !getenv("COW_NO_KSWAPD");
    auto machine = make_swapping_machine(600, 32 * test::kMiB, kswapd);
    constexpr std::size_t kPages = 200;
    struct Space {
        std::unique_ptr<AddressSpace> space;
        std::vector<std::uint8_t> seeds; // the seed each page was filled with
    };
    std::vector<Space> spaces;
    spaces.push_back({ make_space(*machine, 256 * test::kMiB), std::vector<std::uint8_t>(kPages) });
    VirtAddr root_base = map_anon(*spaces[0].space, kPages * kPageSize);
    std::uintptr_t offset = root_base - spaces[0].space->reservation_start();
    auto page_of = [&](Space& s, std::size_t page) {
        return s.space->reservation_start().offset(offset + page * kPageSize).ptr<std::byte>();
    };
    for (std::size_t i = 0; i < kPages; ++i) {
        spaces[0].seeds[i] = static_cast<std::uint8_t>(i);
        fill(page_of(spaces[0], i), spaces[0].seeds[i]);
    }
    std::mt19937 random(12345);
    std::size_t forks = 0;
    for (int round = 0; round < 60; ++round) {
        std::size_t from = random() % spaces.size();
        if (spaces.size() < 6) {
            auto child = spaces[from].space->fork();
            ASSERT_TRUE(child.has_value()) << child.error().what();
            spaces.push_back({ std::move(*child), spaces[from].seeds });
            ++forks;
        }
        for (int write = 0; write < 40; ++write) {
            Space& target = spaces[random() % spaces.size()];
            std::size_t page = random() % kPages;
            target.seeds[page] = static_cast<std::uint8_t>(random());
            fill(page_of(target, page), target.seeds[page]);
        }
        if (round % 5 == 0)
            machine->reclaim(machine->frame_count() / 2);
        if (round % 7 == 6 && spaces.size() > 2)
            spaces.erase(spaces.begin() + 1 + random() % (spaces.size() - 1));
        for (Space& s : spaces) {
            for (std::size_t page = 0; page < kPages; ++page)
                ASSERT_TRUE(holds(page_of(s, page), s.seeds[page]))
                    << "round " << round << " page " << page << " space " << (&s - spaces.data()) << " first byte "
                    << static_cast<int>(page_of(s, page)[0]) << " want " << static_cast<int>(s.seeds[page]);
        }
    }
    EXPECT_GE(forks, 10u);
    EXPECT_GT(stat_of(*machine, VmStatItem::PswpOut), 0);
    EXPECT_GT(stat_of(*machine, VmStatItem::CowFault), 0);
    for (Space& s : spaces)
        s.space->verify_invariants();
    spaces.clear();
    // A page that kswapd held while its last mapping went stays in the swap cache, orphaned,
    // until reclaim comes by, as in Linux; then every slot is free.
    machine->wait_for_swap_io();
    machine->reclaim(machine->frame_count());
    machine->wait_for_swap_io();
    machine->verify_invariants();
    EXPECT_EQ(machine->swap()->device().slots().nr_free(), machine->swap()->device().slots().total_slots());
}

} // namespace
} // namespace vmemu
