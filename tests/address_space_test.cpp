#include <fstream>
#include <cstring>
#include "test_support.hpp"

namespace vmemu {
namespace {

using test::error_of;
using test::map_anon;

struct AddressSpaceTest : ::testing::Test {
    std::unique_ptr<Machine> machine = test::make_machine(4096);
    std::unique_ptr<AddressSpace> space = test::make_space(*machine);

    void TearDown() override
    {
        space->verify_invariants();
        space.reset();
        machine->verify_invariants();
        EXPECT_EQ(machine->free_frames(), machine->frame_count() - 0) << "frames leaked";
    }
};

TEST_F(AddressSpaceTest, MmapPlacesTopDownInsideTheReservation)
{
    VirtAddr first = map_anon(*space, 3 * kPageSize);
    VirtAddr second = map_anon(*space, kPageSize);
    EXPECT_EQ(first.offset(3 * kPageSize), space->reservation_end());
    EXPECT_LT(second, first);
    EXPECT_TRUE(space->in_reservation(second));
    space->verify_invariants();
}

TEST_F(AddressSpaceTest, AdjacentMappingsMerge)
{
    VirtAddr first = map_anon(*space, 4 * kPageSize);
    auto below = space->mmap(first.page_offset(-4), 4 * kPageSize, PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    ASSERT_TRUE(below);
    // Adjacent anonymous mappings with the same flags become one VMA, as in Linux.
    EXPECT_EQ(space->vma_count(), 1u);
    // A mapping split by mprotect merges back when the protection is restored.
    VirtAddr area = map_anon(*space, 8 * kPageSize);
    std::size_t before = space->vma_count();
    ASSERT_TRUE(space->mprotect(area.page_offset(2), 2 * kPageSize, PROT_READ));
    EXPECT_EQ(space->vma_count(), before + 2);
    ASSERT_TRUE(space->mprotect(area.page_offset(2), 2 * kPageSize, PROT_READ | PROT_WRITE));
    EXPECT_EQ(space->vma_count(), before);
}

TEST_F(AddressSpaceTest, MmapRejectsBadArgumentsWithLinuxErrno)
{
    constexpr int kRw = PROT_READ | PROT_WRITE;
    constexpr int kAnon = MAP_PRIVATE | MAP_ANONYMOUS;
    VirtAddr none;
    EXPECT_EQ(error_of(space->mmap(none, 0, kRw, kAnon)), EINVAL);
    EXPECT_EQ(error_of(space->mmap(none, kPageSize, kRw, MAP_ANONYMOUS)), EINVAL); // no type
    EXPECT_EQ(error_of(space->mmap(none, kPageSize, 0x40, kAnon)), EINVAL);        // unknown prot
    EXPECT_EQ(error_of(space->mmap(none, kPageSize, kRw, kAnon | 0x800000)), EINVAL); // no Linux flag
    EXPECT_EQ(error_of(space->mmap(none, kPageSize, kRw, MAP_SHARED_VALIDATE | MAP_ANONYMOUS | 0x800000)), EOPNOTSUPP);
    EXPECT_EQ(error_of(space->mmap(none, kPageSize, kRw, kAnon | MAP_GROWSDOWN)), EOPNOTSUPP);
    EXPECT_EQ(error_of(space->mmap(none, kPageSize, kRw, kAnon | MAP_HUGETLB)), EOPNOTSUPP);
    EXPECT_EQ(error_of(space->mmap(none, 0, kRw, MAP_PRIVATE)), EBADF); // the file is checked first
    EXPECT_EQ(error_of(space->mmap(none, kPageSize, kRw, kAnon, -1, 100)), EINVAL); // offset
    EXPECT_EQ(error_of(space->mmap(none, kPageSize, kRw, MAP_PRIVATE)), EBADF);     // file, no fd
    EXPECT_EQ(error_of(space->mmap(none, kPageSize, kRw, MAP_PRIVATE, 0)), ENODEV);
    EXPECT_EQ(error_of(space->mmap(none, kPageSize, kRw, MAP_SHARED | MAP_ANONYMOUS)), EOPNOTSUPP);
    EXPECT_EQ(error_of(space->mmap(none, SIZE_MAX, kRw, kAnon)), ENOMEM);                        // overflow
    EXPECT_EQ(error_of(space->mmap(none, std::size_t { 2 } << 30, kRw, kAnon)), ENOMEM);         // > reservation
    VirtAddr inside = space->reservation_start().offset(kPageSize);
    EXPECT_EQ(error_of(space->mmap(inside.offset(1), kPageSize, kRw, kAnon | MAP_FIXED)), EINVAL); // misaligned
    EXPECT_EQ(error_of(space->mmap(space->reservation_end(), kPageSize, kRw, kAnon | MAP_FIXED)), ENOMEM);
    EXPECT_EQ(error_of(space->mmap(space->reservation_start().page_offset(-1), kPageSize, kRw, kAnon | MAP_FIXED)),
        ENOMEM);
    EXPECT_EQ(space->vma_count(), 0u); // nothing was created
    // Flags Linux ignores for private anonymous memory, and PROT_SEM, are accepted.
    auto accepted = space->mmap(none, kPageSize, kRw | 0x8, kAnon | MAP_STACK | MAP_NONBLOCK | MAP_DENYWRITE);
    ASSERT_TRUE(accepted);
    ASSERT_TRUE(space->munmap(*accepted, kPageSize));
    ASSERT_TRUE(space->mmap(inside, kPageSize, kRw, kAnon | MAP_FIXED));
    EXPECT_EQ(error_of(space->mmap(inside, kPageSize, kRw, kAnon | MAP_FIXED_NOREPLACE)), EEXIST);
    EXPECT_EQ(space->vma_count(), 1u);
}

TEST_F(AddressSpaceTest, MunmapRejectsBadArgumentsAndAllowsHoles)
{
    VirtAddr area = map_anon(*space, 4 * kPageSize);
    EXPECT_EQ(error_of(space->munmap(area.offset(1), kPageSize)), EINVAL);
    EXPECT_EQ(error_of(space->munmap(area, 0)), EINVAL);
    EXPECT_EQ(error_of(space->munmap(area, SIZE_MAX)), EINVAL);
    EXPECT_EQ(error_of(space->munmap(space->reservation_end(), kPageSize)), EINVAL);
    EXPECT_EQ(space->vma_count(), 1u);
    // Unmapping a range with nothing in it succeeds, as in Linux.
    EXPECT_TRUE(space->munmap(space->reservation_start(), kPageSize));
    // A hole in the middle splits the VMA.
    EXPECT_TRUE(space->munmap(area.page_offset(1), 2 * kPageSize));
    EXPECT_EQ(space->vma_count(), 2u);
    EXPECT_TRUE(space->munmap(area, 4 * kPageSize));
    EXPECT_EQ(space->vma_count(), 0u);
}

TEST_F(AddressSpaceTest, TouchedPagesReadBackAndMunmapFreesFrames)
{
    std::size_t free_before = machine->free_frames();
    VirtAddr area = map_anon(*space, 64 * kPageSize);
    auto* bytes = area.ptr<unsigned char>();
    for (std::size_t i = 0; i < 64; ++i)
        bytes[i * kPageSize + i] = static_cast<unsigned char>(i + 1);
    for (std::size_t i = 0; i < 64; ++i)
        ASSERT_EQ(bytes[i * kPageSize + i], i + 1);
    EXPECT_EQ(space->rss_pages(), 64u);
    space->verify_invariants();
    ASSERT_TRUE(space->munmap(area, 64 * kPageSize));
    EXPECT_EQ(space->rss_pages(), 0u);
    // Frames and page tables are back.
    EXPECT_EQ(machine->free_frames(), free_before);
    EXPECT_EQ(machine->stat().value(VmStatItem::NrAnonPages), 0);
}

TEST_F(AddressSpaceTest, MprotectChangesAccessAndKeepsData)
{
    VirtAddr area = map_anon(*space, 4 * kPageSize);
    auto* bytes = area.ptr<char>();
    std::memset(bytes, 'x', 4 * kPageSize);
    ASSERT_TRUE(space->mprotect(area, 4 * kPageSize, PROT_READ));
    EXPECT_EQ(bytes[kPageSize + 7], 'x');
    ASSERT_TRUE(space->mprotect(area, 4 * kPageSize, PROT_READ | PROT_WRITE));
    bytes[3 * kPageSize] = 'y';
    EXPECT_EQ(bytes[3 * kPageSize], 'y');
    EXPECT_EQ(bytes[0], 'x');
    space->verify_invariants();
}

TEST_F(AddressSpaceTest, MprotectRejectsBadArgumentsAndStopsAtAHoleAsLinux)
{
    VirtAddr area = map_anon(*space, 4 * kPageSize);
    EXPECT_EQ(error_of(space->mprotect(area.offset(1), kPageSize, PROT_READ)), EINVAL);
    EXPECT_EQ(error_of(space->mprotect(area, kPageSize, 0x80)), EINVAL);
    EXPECT_TRUE(space->mprotect(area, 0, PROT_READ)); // length 0 is a no-op
    EXPECT_TRUE(space->mprotect(area, 0, 0x80));      // checked before the protection, as Linux
    EXPECT_EQ(error_of(space->mprotect(area, SIZE_MAX - kPageSize, PROT_READ)), ENOMEM);
    ASSERT_TRUE(space->munmap(area.page_offset(2), kPageSize));
    // [area, area + 4 pages) has a hole: the pages before it change, then ENOMEM, as the
    // kernel's mprotect() does; the pages after it do not.
    EXPECT_EQ(error_of(space->mprotect(area, 4 * kPageSize, PROT_READ)), ENOMEM);
    EXPECT_EQ(test::in_one_thread_child([] {
        void* real = mmap(nullptr, 4 * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (real == MAP_FAILED || munmap(static_cast<char*>(real) + 2 * kPageSize, kPageSize) != 0)
            return 1;
        if (mprotect(real, 4 * kPageSize, PROT_READ) != -1 || errno != ENOMEM)
            return 2;
        std::ifstream real_maps("/proc/self/maps");
        for (std::string line; std::getline(real_maps, line);) {
            if (std::strtoul(line.c_str(), nullptr, 16) == reinterpret_cast<std::uintptr_t>(real))
                return line.find(" r--p ") != std::string::npos ? 0 : 3;
        }
        return 4;
    }),
        0);
    std::string maps = space->maps();
    EXPECT_NE(maps.find(" r--p "), std::string::npos) << maps;
    EXPECT_NE(maps.find(" rw-p "), std::string::npos) << maps; // the page after the hole
    EXPECT_EQ(error_of(space->mprotect(area.page_offset(2), 2 * kPageSize, PROT_READ)), ENOMEM); // starts in the hole
    EXPECT_EQ(space->maps(), maps);
    EXPECT_EQ(error_of(space->mprotect(space->reservation_end(), kPageSize, PROT_READ)), ENOMEM);
}

TEST_F(AddressSpaceTest, MadviseDontneedZeroesAndFrees)
{
    VirtAddr area = map_anon(*space, 8 * kPageSize);
    auto* bytes = area.ptr<char>();
    std::memset(bytes, 'z', 8 * kPageSize);
    std::size_t free_before = machine->free_frames();
    ASSERT_TRUE(space->madvise(area.page_offset(2), 4 * kPageSize, MADV_DONTNEED));
    EXPECT_EQ(machine->free_frames(), free_before + 4);
    EXPECT_EQ(bytes[2 * kPageSize], 0);
    EXPECT_EQ(bytes[5 * kPageSize + 100], 0);
    EXPECT_EQ(bytes[kPageSize], 'z');
    EXPECT_EQ(bytes[6 * kPageSize], 'z');
    space->verify_invariants();
}

TEST_F(AddressSpaceTest, MadviseRejectsBadArguments)
{
    VirtAddr area = map_anon(*space, 4 * kPageSize);
    EXPECT_EQ(error_of(space->madvise(area, kPageSize, 12345)), EINVAL);
    EXPECT_EQ(error_of(space->madvise(area.offset(1), kPageSize, MADV_DONTNEED)), EINVAL);
    EXPECT_EQ(error_of(space->madvise(area, SIZE_MAX, MADV_DONTNEED)), EINVAL);
    EXPECT_EQ(error_of(space->madvise(area, SIZE_MAX - 2 * kPageSize, MADV_DONTNEED)), EINVAL); // wraps
    for (int no_op : { MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_MERGEABLE, MADV_DONTDUMP, MADV_DONTFORK })
        EXPECT_TRUE(space->madvise(area, kPageSize, no_op)) << no_op;
    EXPECT_TRUE(space->madvise(area, 0, MADV_DONTNEED));
    EXPECT_EQ(error_of(space->madvise(space->reservation_start(), kPageSize, MADV_DONTNEED)), ENOMEM);
    // Linux applies advice to the mapped part and then reports the hole.
    EXPECT_EQ(error_of(space->madvise(area.page_offset(-1), 2 * kPageSize, MADV_RANDOM)), ENOMEM);
    EXPECT_NE(space->smaps().find(" rr "), std::string::npos);
}

TEST_F(AddressSpaceTest, MremapGrowsShrinksAndMovesKeepingData)
{
    VirtAddr area = map_anon(*space, 4 * kPageSize);
    auto* bytes = area.ptr<char>();
    for (int i = 0; i < 4; ++i)
        bytes[i * kPageSize] = static_cast<char>('a' + i);
    // Shrink in place.
    auto shrunk = space->mremap(area, 4 * kPageSize, 2 * kPageSize, 0);
    ASSERT_TRUE(shrunk);
    EXPECT_EQ(*shrunk, area);
    // Grow: the space above is the end of the reservation, so it must move.
    EXPECT_EQ(error_of(space->mremap(area, 2 * kPageSize, 64 * kPageSize, 0)), ENOMEM);
    auto moved = space->mremap(area, 2 * kPageSize, 64 * kPageSize, MREMAP_MAYMOVE);
    ASSERT_TRUE(moved);
    EXPECT_NE(*moved, area);
    auto* moved_bytes = moved->ptr<char>();
    EXPECT_EQ(moved_bytes[0], 'a');
    EXPECT_EQ(moved_bytes[kPageSize], 'b');
    EXPECT_EQ(moved_bytes[2 * kPageSize], 0);
    moved_bytes[63 * kPageSize] = 'q';
    space->verify_invariants();
    // The old range is gone.
    EXPECT_EQ(space->vma_count(), 1u);
    // MREMAP_FIXED to a chosen place.
    VirtAddr target = space->reservation_start().page_offset(16);
    auto fixed = space->mremap(*moved, 64 * kPageSize, 64 * kPageSize, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    ASSERT_TRUE(fixed);
    EXPECT_EQ(*fixed, target);
    EXPECT_EQ(target.ptr<char>()[kPageSize], 'b');
    EXPECT_EQ(target.ptr<char>()[63 * kPageSize], 'q');
    space->verify_invariants();
}

TEST_F(AddressSpaceTest, MremapGrowsInPlaceWhenThereIsRoom)
{
    VirtAddr area = map_anon(*space, 2 * kPageSize);
    ASSERT_TRUE(space->munmap(area, 2 * kPageSize));
    VirtAddr low = *space->mmap(area, kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    low.ptr<char>()[0] = 'k';
    auto grown = space->mremap(low, kPageSize, 2 * kPageSize, 0);
    ASSERT_TRUE(grown);
    EXPECT_EQ(*grown, low);
    EXPECT_EQ(low.ptr<char>()[0], 'k');
    low.ptr<char>()[kPageSize] = 'l';
    EXPECT_EQ(space->vma_count(), 1u);
}

TEST_F(AddressSpaceTest, MremapDontunmapLeavesAnEmptyMapping)
{
    VirtAddr area = map_anon(*space, 2 * kPageSize);
    area.ptr<char>()[0] = 'd';
    auto moved = space->mremap(area, 2 * kPageSize, 2 * kPageSize, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
    ASSERT_TRUE(moved);
    EXPECT_EQ(moved->ptr<char>()[0], 'd');
    EXPECT_EQ(area.ptr<char>()[0], 0); // still mapped, now empty
    EXPECT_EQ(space->vma_count(), 2u);
}

TEST_F(AddressSpaceTest, MremapRejectsBadArguments)
{
    VirtAddr area = map_anon(*space, 4 * kPageSize);
    EXPECT_EQ(error_of(space->mremap(area, kPageSize, kPageSize, 0x80)), EINVAL);
    EXPECT_EQ(error_of(space->mremap(area, kPageSize, kPageSize, MREMAP_FIXED, area)), EINVAL);
    EXPECT_EQ(error_of(space->mremap(area.offset(1), kPageSize, kPageSize, 0)), EINVAL);
    EXPECT_EQ(error_of(space->mremap(area, kPageSize, 0, 0)), EINVAL);
    EXPECT_EQ(error_of(space->mremap(area, 0, kPageSize, MREMAP_MAYMOVE)), EINVAL);
    EXPECT_EQ(error_of(space->mremap(area, kPageSize, 2 * kPageSize, MREMAP_MAYMOVE | MREMAP_DONTUNMAP)), EINVAL);
    EXPECT_EQ(error_of(space->mremap(area, kPageSize - 1, kPageSize, MREMAP_MAYMOVE | MREMAP_DONTUNMAP)), EINVAL);
    EXPECT_EQ(error_of(space->mremap(area, 8 * kPageSize, 16 * kPageSize, MREMAP_MAYMOVE)), EFAULT); // beyond the VMA
    EXPECT_EQ(error_of(space->mremap(space->reservation_start(), kPageSize, 2 * kPageSize, MREMAP_MAYMOVE)), EFAULT);
    EXPECT_EQ(error_of(space->mremap(space->reservation_start(), 0, kPageSize, MREMAP_MAYMOVE)), EFAULT);
    // Even a remap to the same size needs a VMA at the old address.
    EXPECT_EQ(error_of(space->mremap(space->reservation_start(), kPageSize, kPageSize, 0)), EFAULT);
    EXPECT_EQ(error_of(space->mremap(area, 4 * kPageSize, 4 * kPageSize, MREMAP_MAYMOVE | MREMAP_FIXED,
                  area.page_offset(2))),
        EINVAL); // overlapping
    EXPECT_EQ(space->vma_count(), 1u);
}

TEST_F(AddressSpaceTest, PopulatePrefaultsEveryPage)
{
    std::uint64_t faults_before = static_cast<std::uint64_t>(machine->stat().value(VmStatItem::PgFault));
    VirtAddr area = map_anon(*space, 256 * kPageSize, PROT_READ | PROT_WRITE, MAP_POPULATE);
    EXPECT_EQ(space->rss_pages(), 256u);
    std::uint64_t faults_after_populate = static_cast<std::uint64_t>(machine->stat().value(VmStatItem::PgFault));
    EXPECT_LT(faults_after_populate - faults_before, 256u); // fault-around batched it
    for (std::size_t i = 0; i < 256; ++i)
        area.ptr<char>()[i * kPageSize] = 1;
    EXPECT_EQ(static_cast<std::uint64_t>(machine->stat().value(VmStatItem::PgFault)), faults_after_populate);
}

TEST_F(AddressSpaceTest, TooManyVmasIsEnomem)
{
    auto small_machine = Machine::create({ .frames = 256, .max_vmas = 3 });
    ASSERT_TRUE(small_machine);
    auto small = test::make_space(**small_machine, 4 * test::kMiB);
    VirtAddr area = map_anon(*small, 8 * kPageSize);
    ASSERT_TRUE(small->mprotect(area.page_offset(2), kPageSize, PROT_READ)); // 3 VMAs
    EXPECT_EQ(error_of(small->mprotect(area.page_offset(5), kPageSize, PROT_READ)), ENOMEM);
    EXPECT_EQ(error_of(small->munmap(area.page_offset(6), kPageSize)), ENOMEM);
    EXPECT_EQ(small->vma_count(), 3u);
    small->verify_invariants();
}

TEST(Machine, RejectsBadConfiguration)
{
    EXPECT_EQ(error_of(Machine::create({ .frames = 0 })), EINVAL);
    EXPECT_EQ(error_of(Machine::create({ .frames = Machine::kMinFrames - 1 })), EINVAL);
    EXPECT_EQ(error_of(Machine::create({ .frames = std::size_t { 1 } << 60 })), EINVAL);
    EXPECT_EQ(error_of(Machine::create({ .frames = 1024, .max_vmas = 0 })), EINVAL);
    auto machine = test::make_machine(1024);
    EXPECT_EQ(error_of(machine->create_address_space(0)), EINVAL);
    EXPECT_EQ(error_of(machine->create_address_space(test::kMiB)), EINVAL); // below 2 MiB
    EXPECT_EQ(error_of(machine->create_address_space(4 * test::kMiB + 1)), EINVAL);
    EXPECT_EQ(machine->free_frames(), 1024u);
}

} // namespace
} // namespace vmemu

namespace vmemu {
namespace {

TEST_F(AddressSpaceTest, MadviseFreeDropsThePages)
{
    VirtAddr area = map_anon(*space, 4 * kPageSize);
    std::memset(area.ptr<char>(), 'f', 4 * kPageSize);
    ASSERT_TRUE(space->madvise(area, 4 * kPageSize, MADV_FREE));
    EXPECT_EQ(space->rss_pages(), 0u);
    EXPECT_EQ(area.ptr<char>()[kPageSize], 0);
}

TEST_F(AddressSpaceTest, MapLockedPopulates)
{
    VirtAddr area = map_anon(*space, 16 * kPageSize, PROT_READ | PROT_WRITE, MAP_LOCKED);
    EXPECT_EQ(space->rss_pages(), 16u);
    ASSERT_TRUE(space->munmap(area, 16 * kPageSize));
}

TEST_F(AddressSpaceTest, MremapShrinkAcrossMappingsUnmapsTheTail)
{
    VirtAddr area = map_anon(*space, 8 * kPageSize);
    ASSERT_TRUE(space->mprotect(area.page_offset(4), 4 * kPageSize, PROT_READ)); // two VMAs
    auto shrunk = space->mremap(area, 8 * kPageSize, 2 * kPageSize, 0);
    ASSERT_TRUE(shrunk);
    EXPECT_EQ(*shrunk, area);
    EXPECT_EQ(space->vma_count(), 1u);
}

TEST_F(AddressSpaceTest, MremapNeedsTheOldAddressMappedEvenToShrink)
{
    // As the kernel's mremap(): the VMA at the old address is looked up first.
    VirtAddr area = map_anon(*space, 8 * kPageSize);
    ASSERT_TRUE(space->munmap(area.page_offset(4), 4 * kPageSize));
    EXPECT_EQ(error_of(space->mremap(area.page_offset(4), 2 * kPageSize, kPageSize, 0)), EFAULT);
    EXPECT_EQ(test::in_one_thread_child([] {
        char* real = static_cast<char*>(mmap(nullptr, 8 * kPageSize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        if (real == MAP_FAILED || munmap(real + 4 * kPageSize, 4 * kPageSize) != 0)
            return 1;
        return mremap(real + 4 * kPageSize, 2 * kPageSize, kPageSize, 0) == MAP_FAILED && errno == EFAULT ? 0 : 2;
    }),
        0);
    // From a mapped start, the tail goes whatever lies there.
    EXPECT_TRUE(space->mremap(area.page_offset(2), 4 * kPageSize, kPageSize, 0));
}

TEST_F(AddressSpaceTest, MremapThatCannotGetPageTablesChangesNothing)
{
    // A machine with no frame to spare: moving to a fresh 2 MiB range needs a page table.
    auto tight = Machine::create({ .frames = Machine::kMinFrames });
    ASSERT_TRUE(tight);
    auto small = test::make_space(**tight, 64 * test::kMiB);
    VirtAddr area = map_anon(*small, 4 * kPageSize);
    area.ptr<char>()[0] = 'm';
    VirtAddr hog = map_anon(*small, 512 * kPageSize);
    for (std::size_t page = 0; (*tight)->free_frames() > 0 && page < 512; ++page)
        hog.ptr<volatile char>()[page * kPageSize] = 1;
    ASSERT_EQ((*tight)->free_frames(), 0u);
    VirtAddr target = small->reservation_start().offset(8 * test::kMiB);
    std::string maps_before = small->maps();
    EXPECT_EQ(error_of(small->mremap(area, 4 * kPageSize, 4 * kPageSize, MREMAP_MAYMOVE | MREMAP_FIXED, target)),
        ENOMEM);
    EXPECT_EQ(area.ptr<char>()[0], 'm');
    EXPECT_EQ(small->maps(), maps_before);
    small->verify_invariants();
}

} // namespace
} // namespace vmemu
