#include <fstream>
#include <regex>
#include <sstream>
#include <vector>
#include "test_support.hpp"

namespace vmemu {
namespace {

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> lines;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        lines.push_back(line);
    return lines;
}

std::string read_file(const char* path)
{
    std::ifstream in(path);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

// The SIGSEGV view: its read faults map the zero page, and the page walk shows its PTE bits.
struct StatsFormat : ::testing::Test {
    std::unique_ptr<Machine> machine = test::make_machine(4096, 0, FaultSourceKind::Signal);
    std::unique_ptr<AddressSpace> space = test::make_space(*machine);
    VirtAddr area = test::map_anon(*space, 16 * kPageSize);

    void SetUp() override
    {
        for (std::size_t i = 8; i-- > 0;) // backwards: no sequential fault-around
            area.ptr<char>()[i * kPageSize] = 1;
        (void)area.ptr<volatile char>()[12 * kPageSize]; // one zero-page read
    }
};

// The kernel's meminfo line: label and padding in 16 columns, the value in 8, then " kB".
const std::regex kMeminfoLine(R"(^[A-Za-z()_]+:\s+\d+ kB$)");

TEST_F(StatsFormat, MeminfoLinesHaveTheKernelsShape)
{
    auto ours = lines_of(machine->meminfo());
    ASSERT_GE(ours.size(), 5u);
    for (const auto& line : ours) {
        EXPECT_TRUE(std::regex_match(line, kMeminfoLine)) << line;
        EXPECT_EQ(line.size(), 27u) << line;
    }
    // The same shape as the real /proc/meminfo's first line.
    auto real = lines_of(read_file("/proc/meminfo"));
    ASSERT_FALSE(real.empty());
    EXPECT_TRUE(std::regex_match(real[0], kMeminfoLine));
    EXPECT_EQ(ours[0].substr(0, 16), real[0].substr(0, 16)); // "MemTotal:       "
    EXPECT_EQ(ours[0], "MemTotal:          16384 kB");
    EXPECT_NE(machine->meminfo().find("AnonPages:            32 kB\n"), std::string::npos);
}

TEST_F(StatsFormat, VmstatIsNameValueLinesThatAddUp)
{
    auto ours = lines_of(machine->vmstat());
    const std::regex line_shape(R"(^[a-z0-9_]+ -?\d+$)");
    for (const auto& line : ours)
        EXPECT_TRUE(std::regex_match(line, line_shape)) << line;
    EXPECT_EQ(ours[0], "nr_free_pages " + std::to_string(machine->free_frames()));
    auto text = machine->vmstat();
    EXPECT_NE(text.find("\nnr_anon_pages 8\n"), std::string::npos);
    EXPECT_NE(text.find("\nnr_zero_page_mappings 1\n"), std::string::npos);
    EXPECT_NE(text.find("\npgfault_zero_page 1\n"), std::string::npos);
    // Every real /proc/vmstat line has the same shape.
    for (const auto& line : lines_of(read_file("/proc/vmstat")))
        EXPECT_TRUE(std::regex_match(line, line_shape)) << line;
}

TEST_F(StatsFormat, BuddyinfoMatchesTheKernelsFormatAndTheFreeCount)
{
    auto line = machine->buddyinfo();
    const std::regex shape(R"(^Node 0, zone +Normal( +\d+){11} \n$)");
    EXPECT_TRUE(std::regex_match(line, shape)) << line;
    auto real = lines_of(read_file("/proc/buddyinfo"));
    ASSERT_FALSE(real.empty());
    EXPECT_TRUE(std::regex_match(real.back() + "\n", std::regex(R"(^Node \d+, zone +\w+( +\d+){11} \n$)")));
    EXPECT_EQ(line.substr(0, 22), "Node 0, zone   Normal ");
    std::istringstream in(line.substr(22));
    std::size_t frames = 0;
    std::size_t blocks;
    for (unsigned order = 0; in >> blocks; ++order)
        frames += blocks << order;
    EXPECT_EQ(frames, machine->free_frames());
}

TEST_F(StatsFormat, ZoneinfoShowsTheWatermarks)
{
    auto text = machine->zoneinfo();
    const Watermarks& marks = machine->page_allocator().watermarks();
    EXPECT_EQ(text.rfind("Node 0, zone   Normal\n  pages free     ", 0), 0u);
    EXPECT_NE(text.find("\n        min      " + std::to_string(marks.min) + "\n"), std::string::npos);
    EXPECT_NE(text.find("\n        low      " + std::to_string(marks.low) + "\n"), std::string::npos);
    EXPECT_NE(text.find("\n        high     " + std::to_string(marks.high) + "\n"), std::string::npos);
    EXPECT_NE(read_file("/proc/zoneinfo").find("\n        min      "), std::string::npos);
}

TEST_F(StatsFormat, MapsLinesLookLikeAnonymousProcMapsLines)
{
    ASSERT_TRUE(space->mprotect(area.page_offset(4), 4 * kPageSize, PROT_READ));
    auto ours = lines_of(space->maps());
    ASSERT_EQ(ours.size(), 3u);
    const std::regex anon(R"(^[0-9a-f]{8,}-[0-9a-f]{8,} [r-][w-][x-][ps] 00000000 00:00 0 $)");
    for (const auto& line : ours)
        EXPECT_TRUE(std::regex_match(line, anon)) << line;
    EXPECT_NE(ours[1].find(" r--p "), std::string::npos);
    char expected[64];
    std::snprintf(expected, sizeof expected, "%lx-%lx rw-p", static_cast<unsigned long>(area.get()),
        static_cast<unsigned long>(area.offset(4 * kPageSize).get()));
    EXPECT_EQ(ours[0].rfind(expected, 0), 0u);
    // The real kernel prints anonymous mappings the same way.
    bool real_has_one = false;
    for (const auto& line : lines_of(read_file("/proc/self/maps")))
        real_has_one |= std::regex_match(line, anon);
    EXPECT_TRUE(real_has_one);
}

TEST_F(StatsFormat, SmapsHasTheKernelsFieldsInOrderAndCountsRss)
{
    auto ours = lines_of(space->smaps());
    std::vector<std::string> our_fields;
    for (const auto& line : ours) {
        auto colon = line.find(':');
        if (colon != std::string::npos && line.find(' ') > colon)
            our_fields.push_back(line.substr(0, colon));
    }
    // The real smaps of an anonymous mapping lists the same fields in the same order (ours
    // may leave out fields the hardware lacks, like ProtectionKey).
    void* real = mmap(nullptr, kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    static_cast<char*>(real)[0] = 1;
    auto real_lines = lines_of(read_file("/proc/self/smaps"));
    munmap(real, kPageSize);
    std::vector<std::string> real_fields;
    for (const auto& line : real_lines) {
        auto colon = line.find(':');
        if (colon != std::string::npos && line.find(' ') > colon && line.find('-') > colon) {
            std::string field = line.substr(0, colon);
            if (std::find(real_fields.begin(), real_fields.end(), field) != real_fields.end())
                break;
            real_fields.push_back(field);
        }
    }
    std::size_t position = 0;
    for (const auto& field : our_fields) {
        auto found = std::find(real_fields.begin() + static_cast<long>(position), real_fields.end(), field);
        ASSERT_NE(found, real_fields.end()) << field << " is not in the kernel's order";
        position = static_cast<std::size_t>(found - real_fields.begin()) + 1;
    }
    for (const auto& line : ours) {
        if (line.find(" kB") != std::string::npos) {
            EXPECT_TRUE(std::regex_match(line, kMeminfoLine)) << line;
        }
    }
    auto text = space->smaps();
    EXPECT_NE(text.find("\nRss:                  32 kB\n"), std::string::npos) << text; // zero page not counted
    EXPECT_NE(text.find("\nSize:                 64 kB\n"), std::string::npos);
    EXPECT_NE(text.find("\nAnonymous:            32 kB\n"), std::string::npos);
    EXPECT_NE(text.find("\nVmFlags: rd wr mr mw me ac \n"), std::string::npos);
}

TEST_F(StatsFormat, PageWalkFollowsTheTablesToTheBytesOfTheFrame)
{
    area.ptr<char>()[0x123] = 0x5a;
    std::string walk = space->page_walk(area.offset(0x123));
    auto lines = lines_of(walk);
    ASSERT_GE(lines.size(), 8u) << walk;
    EXPECT_EQ(lines[1].rfind("vma  ", 0), 0u) << walk;
    const char* levels[] = { "pgd  [", "pud  [", "pmd  [", "pte  [" };
    for (unsigned level = 0; level < 4; ++level)
        EXPECT_EQ(lines[2 + level].rfind(levels[level], 0), 0u) << walk;
    EXPECT_NE(lines[5].find(" present write user accessed dirty"), std::string::npos) << walk;
    EXPECT_NE(walk.find("refcount:1 mapcount:1"), std::string::npos) << walk;
    EXPECT_NE(walk.find("(lru|swapbacked)"), std::string::npos) << walk;
    // The direct map address the walk ends at holds the byte written through the mapping.
    std::smatch byte_at;
    ASSERT_TRUE(std::regex_search(walk, byte_at, std::regex("the byte at (0x[0-9a-f]+)"))) << walk;
    EXPECT_EQ(*reinterpret_cast<const char*>(std::stoull(byte_at[1], nullptr, 16)), 0x5a);

    EXPECT_NE(space->page_walk(area.offset(12 * kPageSize)).find("the shared zero page"), std::string::npos);
    EXPECT_NE(space->page_walk(area.offset(14 * kPageSize)).find("pte none"), std::string::npos);
    // Far from any mapping: no VMA, and the walk stops at the first missing table.
    std::string nowhere = space->page_walk(area.offset(std::size_t { 1 } << 29));
    EXPECT_NE(nowhere.find("vma  none"), std::string::npos) << nowhere;
    EXPECT_NE(nowhere.find("\nno p"), std::string::npos) << nowhere;
}

} // namespace
} // namespace vmemu
