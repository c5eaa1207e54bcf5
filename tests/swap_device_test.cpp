#include <sched.h>
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>
#include <set>
#include <sys/stat.h>
#include <vector>
#include <vmemu/os/futex.hpp>
#include <vmemu/swap/swap_device.hpp>
#include "test_support.hpp"

namespace vmemu {
namespace {

constexpr std::size_t kPage = SwapHeaderInfo::kPageSize;

std::string temp_path(const char* name)
{
    return (std::filesystem::temp_directory_path() / (std::string("vmemu-test-") + std::to_string(getpid()) + "-" + name))
        .string();
}

TEST(SwapHeader, RoundTripsAndRejectsWhatIsNotAHeader)
{
    alignas(4096) std::byte page[kPage];
    SwapHeaderInfo header;
    header.last_page = 12345;
    header.uuid = SwapHeaderInfo::random_uuid();
    header.label = "vmemu-test";
    ASSERT_TRUE(header.encode(page));
    EXPECT_EQ(std::memcmp(page + kPage - 10, "SWAPSPACE2", 10), 0);
    auto decoded = SwapHeaderInfo::decode(page);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->last_page, 12345u);
    EXPECT_EQ(decoded->version, 1u);
    EXPECT_EQ(decoded->uuid, header.uuid);
    EXPECT_EQ(decoded->label, "vmemu-test");
    EXPECT_EQ((header.uuid[6] >> 4), 4); // a version 4 UUID
    page[kPage - 1] = std::byte { 'X' };
    EXPECT_EQ(test::error_of(SwapHeaderInfo::decode(page)), EINVAL);
    header.label = std::string(17, 'l');
    EXPECT_EQ(test::error_of(header.encode(page)), EINVAL);
    header.label = "";
    header.last_page = 0;
    EXPECT_EQ(test::error_of(header.encode(page)), EINVAL);
}

TEST(SwapSlots, BatchesAreConsecutiveAndCountsFreeSlots)
{
    SwapSlots slots(1000);
    slots.verify_invariants();
    EXPECT_EQ(slots.nr_free(), 1000u);
    std::uint32_t batch[32];
    ASSERT_EQ(slots.alloc(32, batch), 32u);
    for (int i = 1; i < 32; ++i)
        EXPECT_EQ(batch[i], batch[0] + static_cast<std::uint32_t>(i));
    EXPECT_NE(batch[0], 0u); // never the header
    EXPECT_EQ(slots.map_value(batch[0]), SwapSlots::kHasCache);
    EXPECT_EQ(slots.nr_free(), 968u);
    // A swap PTE takes a reference; the cache lets go; the PTE's reference frees the slot.
    ASSERT_TRUE(slots.add_reference(batch[0]));
    EXPECT_EQ(slots.drop_cache(batch[0]), 1u);
    EXPECT_EQ(slots.nr_free(), 968u);
    EXPECT_TRUE(slots.take_cache(batch[0]));
    EXPECT_FALSE(slots.take_cache(batch[0])); // a second swap-in of the same slot waits instead
    EXPECT_EQ(slots.drop_reference(batch[0]), SwapSlots::kHasCache);
    EXPECT_EQ(slots.drop_cache(batch[0]), 0u);
    EXPECT_EQ(slots.nr_free(), 969u);
    EXPECT_FALSE(slots.take_cache(batch[0])); // free slots cannot be cached
    slots.verify_invariants();
}

TEST(SwapSlots, FillsEveryClusterThenRefuses)
{
    SwapSlots slots(600); // three clusters, the first with the header, the last partial
    std::set<std::uint32_t> seen;
    std::uint32_t batch[64];
    for (;;) {
        std::size_t got = slots.alloc(64, batch);
        for (std::size_t i = 0; i < got; ++i) {
            EXPECT_TRUE(seen.insert(batch[i]).second);
            EXPECT_GE(batch[i], 1u);
            EXPECT_LE(batch[i], 600u);
        }
        if (got < 64)
            break;
    }
    EXPECT_EQ(seen.size(), 600u);
    EXPECT_EQ(slots.nr_free(), 0u);
    EXPECT_EQ(slots.alloc(1, batch), 0u);
    slots.verify_invariants();
    // Freed slots in the middle of full clusters are found again.
    EXPECT_EQ(slots.drop_cache(300), 0u);
    EXPECT_EQ(slots.drop_cache(7), 0u);
    EXPECT_EQ(slots.alloc(4, batch), 2u);
    slots.verify_invariants();
}

// Collects completions for the device tests.
struct Completions {
    std::atomic<std::uint32_t> done { 0 };
    std::vector<int> results = std::vector<int>(64, 1);
    static void handle(void* context, std::uint64_t user_data, IoDirection, int result)
    {
        auto* self = static_cast<Completions*>(context);
        self->results[user_data] = result;
        self->done.fetch_add(1);
        os::futex_wake(self->done, INT32_MAX);
    }
    void wait_for(std::uint32_t count)
    {
        for (std::uint32_t seen; (seen = done.load()) < count;)
            os::futex_wait(done, seen);
    }
};

// in_flight() drops after the handlers of a request have run: wait for it, a bounded while.
void wait_until_idle(const SwapDevice& device)
{
    for (int i = 0; i < 100000 && device.in_flight() != 0; ++i)
        sched_yield();
}

struct AlignedPages {
    std::byte* memory;
    explicit AlignedPages(std::size_t pages)
        : memory(static_cast<std::byte*>(std::aligned_alloc(kPage, pages * kPage)))
    {
    }
    ~AlignedPages() { std::free(memory); }
    std::byte* page(std::size_t index) { return memory + index * kPage; }
};

TEST(SwapDevice, WritesAndReadsPagesThroughIoUring)
{
    Completions completions;
    auto device = SwapDevice::create({ .bytes = 1 << 20 }, &Completions::handle, &completions);
    ASSERT_TRUE(device) << device.error().what();
    EXPECT_EQ((*device)->header().last_page, 255u);
    AlignedPages out(16), in(16);
    std::vector<SwapIo> writes, reads;
    for (std::uint32_t i = 0; i < 16; ++i) {
        std::memset(out.page(i), static_cast<int>(i * 7 + 1), kPage);
        writes.push_back({ i + 1, out.page(i), i, IoDirection::Write });
        reads.push_back({ i + 1, in.page(i), 16 + i, IoDirection::Read });
    }
    (*device)->submit(writes.data(), writes.size());
    completions.wait_for(16);
    (*device)->submit(reads.data(), reads.size());
    completions.wait_for(32);
    for (std::uint32_t i = 0; i < 32; ++i)
        EXPECT_EQ(completions.results[i], static_cast<int>(kPage)) << i;
    EXPECT_EQ(std::memcmp(out.memory, in.memory, 16 * kPage), 0);
    // A request's pages leave in_flight() after all their handlers have run.
    wait_until_idle(**device);
    EXPECT_EQ((*device)->in_flight(), 0u);
}

TEST(SwapDevice, InjectedFailuresAndShortWritesAreReportedAsErrors)
{
    Completions completions;
    auto device = SwapDevice::create({ .bytes = 1 << 20 }, &Completions::handle, &completions);
    ASSERT_TRUE(device);
    AlignedPages pages(4);
    (*device)->inject_failures(IoDirection::Write, EIO, 1);
    (*device)->inject_short_writes(1);
    (*device)->inject_failures(IoDirection::Read, EIO, 1);
    // Slots apart, so that each write is a request of its own.
    SwapIo batch[] = {
        { 1, pages.page(0), 0, IoDirection::Write },
        { 3, pages.page(1), 1, IoDirection::Write },
        { 5, pages.page(2), 2, IoDirection::Write },
    };
    (*device)->submit(batch, 3);
    completions.wait_for(3);
    SwapIo read { 1, pages.page(3), 3, IoDirection::Read };
    (*device)->submit(&read, 1);
    completions.wait_for(4);
    int failed_writes = (completions.results[0] == -EIO) + (completions.results[1] == -EIO)
        + (completions.results[2] == -EIO);
    EXPECT_EQ(failed_writes, 2); // one EIO, one short write
    EXPECT_EQ(completions.results[3], -EIO);
}

TEST(SwapDevice, SubmissionsRefusedForAWhileAreRetriedAndLoseNothing)
{
    // io_uring_enter() says EAGAIN or EBUSY for a while (no memory for requests, a full
    // completion queue): the requests stay queued, and the device submits them again.
    Completions completions;
    auto device = SwapDevice::create({ .bytes = 1 << 20 }, &Completions::handle, &completions);
    ASSERT_TRUE(device);
    AlignedPages in(8);
    AlignedPages out(8);
    for (std::uint32_t i = 0; i < 8; ++i)
        std::memset(in.page(i), static_cast<int>(0x60 + i), kPage);
    (*device)->inject_submit_errors(EAGAIN, 3);
    std::vector<SwapIo> writes;
    for (std::uint32_t i = 0; i < 8; ++i)
        writes.push_back({ 20 + 2 * i, in.page(i), i, IoDirection::Write }); // a request each
    (*device)->submit(writes.data(), writes.size());
    completions.wait_for(8);
    (*device)->inject_submit_errors(EBUSY, 5);
    std::vector<SwapIo> reads;
    for (std::uint32_t i = 0; i < 8; ++i)
        reads.push_back({ 20 + 2 * i, out.page(i), 8 + i, IoDirection::Read });
    (*device)->submit(reads.data(), reads.size());
    completions.wait_for(16);
    for (std::uint32_t i = 0; i < 16; ++i)
        EXPECT_EQ(completions.results[i], static_cast<int>(kPage)) << i;
    EXPECT_EQ(std::memcmp(out.page(0), in.page(0), 8 * kPage), 0);
    wait_until_idle(**device);
    EXPECT_EQ((*device)->in_flight(), 0u);
}

TEST(SwapDevice, ConsecutiveSlotsAreOneRequestAndAShortOneFailsOnlyThePagesItMissed)
{
    Completions completions;
    auto device = SwapDevice::create({ .bytes = 1 << 20 }, &Completions::handle, &completions);
    ASSERT_TRUE(device);
    AlignedPages pages(8);
    for (std::uint32_t i = 0; i < 8; ++i)
        std::memset(pages.page(i), static_cast<int>(0x40 + i), kPage);
    // One request for slots 10..13: the injected short write reaches its first two pages.
    (*device)->inject_short_writes(1);
    std::vector<SwapIo> writes;
    for (std::uint32_t i = 0; i < 4; ++i)
        writes.push_back({ 10 + i, pages.page(i), i, IoDirection::Write });
    (*device)->submit(writes.data(), writes.size());
    completions.wait_for(4);
    EXPECT_EQ(completions.results[0], static_cast<int>(kPage));
    EXPECT_EQ(completions.results[1], static_cast<int>(kPage));
    EXPECT_EQ(completions.results[2], -EIO);
    EXPECT_EQ(completions.results[3], -EIO);
    // The two written pages read back, in one request, exactly.
    SwapIo reads[] = {
        { 10, pages.page(4), 4, IoDirection::Read },
        { 11, pages.page(5), 5, IoDirection::Read },
    };
    (*device)->submit(reads, 2);
    completions.wait_for(6);
    EXPECT_EQ(completions.results[4], static_cast<int>(kPage));
    EXPECT_EQ(completions.results[5], static_cast<int>(kPage));
    EXPECT_EQ(std::memcmp(pages.page(4), pages.page(0), 2 * kPage), 0);
    // An injected error fails every page of the request.
    (*device)->inject_failures(IoDirection::Write, EIO, 1);
    for (std::uint32_t i = 0; i < 3; ++i)
        writes[i].user_data = 6 + i;
    (*device)->submit(writes.data(), 3);
    completions.wait_for(9);
    EXPECT_EQ(std::count(completions.results.begin() + 6, completions.results.begin() + 9, -EIO), 3);
    wait_until_idle(**device);
    EXPECT_EQ((*device)->in_flight(), 0u);
}

TEST(SwapDevice, PrivateFileIsUnnamedAndShowsInProcSwapsFormat)
{
    Completions completions;
    auto device = SwapDevice::create({}, &Completions::handle, &completions);
    ASSERT_TRUE(device);
    std::string line = (*device)->swaps_line();
    EXPECT_TRUE(std::regex_match(line, std::regex(R"(^/\S+.* +file\t\t65532\t\t0\t\t-2\n$)"))) << line;
    EXPECT_NE(line.find("(deleted)"), std::string::npos) << line;
    EXPECT_EQ(std::string(SwapDevice::swaps_heading()), "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
}

TEST(SwapDevice, FileIsPrivateAndRecognisedAsSwapByBlkid)
{
    std::string path = temp_path("swap");
    {
        Completions completions;
        auto device = SwapDevice::create({ .path = path, .bytes = 1 << 20, .label = "vmemu-test" }, &Completions::handle,
            &completions);
        ASSERT_TRUE(device) << device.error().what();
        struct stat status {};
        ASSERT_EQ(stat(path.c_str(), &status), 0);
        EXPECT_EQ(status.st_mode & 0777, 0600u);
        if (std::system("command -v blkid >/dev/null 2>&1") == 0) {
            std::string command = "blkid -p -o export " + path;
            FILE* pipe = popen(command.c_str(), "r");
            ASSERT_NE(pipe, nullptr);
            char buffer[1024];
            std::string output;
            while (std::fgets(buffer, sizeof buffer, pipe))
                output += buffer;
            pclose(pipe);
            EXPECT_NE(output.find("TYPE=swap"), std::string::npos) << output;
            EXPECT_NE(output.find("LABEL=vmemu-test"), std::string::npos) << output;
            EXPECT_NE(output.find("UUID=" + (*device)->header().uuid_string()), std::string::npos) << output;
            EXPECT_NE(output.find("VERSION=1"), std::string::npos) << output;
        } else {
            std::printf("blkid is not installed: the blkid check is skipped\n");
        }
    }
    std::filesystem::remove(path);
}

TEST(SwapDevice, BadConfigurationIsAClearError)
{
    Completions completions;
    EXPECT_EQ(test::error_of(SwapDevice::create({ .bytes = 4096 }, &Completions::handle, &completions)), EINVAL);
    EXPECT_EQ(test::error_of(SwapDevice::create({ .bytes = 5000 }, &Completions::handle, &completions)), EINVAL);
    EXPECT_EQ(test::error_of(SwapDevice::create({ .bytes = 1 << 20, .label = std::string(20, 'x') },
                  &Completions::handle, &completions)),
        EINVAL);
    auto missing = SwapDevice::create({ .path = "/nonexistent-vmemu-dir/swap" }, &Completions::handle, &completions);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ENOENT);
    EXPECT_STREQ(missing.error().what(), "cannot open the swap file");
}

} // namespace
} // namespace vmemu
