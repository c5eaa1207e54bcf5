// scale: a large working set placed at random, everything fitting in the frames (nothing swaps),
// side by side in one run:
//   native       plain anonymous memory (transparent huge pages off), the kernel alone;
//   vmemu        an AddressSpace on the SIGSEGV fault source: one kernel mapping per run of
//                frames, at most vm.max_map_count of them;
//   vmemu_uffd   an AddressSpace on userfaultfd in SIGBUS mode: the kernel's mappings follow
//                the emulated VMAs only.
// Each touches every page of BYTES once in random order (the first-touch phase), then reads
// READS random pages (the read phase), and reports ns per page or read, the faults vmemu took
// in the read phase (spurious: the page was mapped for vmemu but not for the kernel), and the
// kernel's VMAs in the reservation against the emulated VMAs.
//
//   scale [--bytes SIZE] [--frames SIZE] [--reads N] [--backends native,vmemu,vmemu_uffd]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <sys/mman.h>
#include <vector>
#include <vmemu/base/parse_size.hpp>
#include <vmemu/vmemu.hpp>

namespace {

constexpr std::size_t kPage = 4096;

struct Settings {
    std::size_t bytes { std::size_t { 1536 } << 20 };
    std::size_t frames_bytes { std::size_t { 2 } << 30 };
    std::size_t reads { 2000000 };
    std::string backends { "native,vmemu,vmemu_uffd" };
};

struct Result {
    double touch_ns_per_page { 0 };
    double read_ns_per_read { 0 };
    long read_phase_faults { -1 };
    long read_phase_spurious { -1 };
    long kernel_vmas { -1 };
    long emulated_vmas { -1 };
    std::uint64_t checksum { 0 };
};

using Clock = std::chrono::steady_clock;

double ns_between(Clock::time_point from, Clock::time_point to)
{
    return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count());
}

// The two phases over memory at base; the page orders are the same for every backend.
void run_phases(char* base, const Settings& settings, Result& result, const std::vector<std::size_t>& touch_order,
    const std::vector<std::size_t>& read_order, const std::function<void()>& between)
{
    auto start = Clock::now();
    for (std::size_t page : touch_order)
        base[page * kPage + (page & 511) * 8] = static_cast<char>(page);
    auto touched = Clock::now();
    between();
    auto reads_start = Clock::now();
    std::uint64_t sum = 0;
    for (std::size_t page : read_order)
        sum += static_cast<unsigned char>(static_cast<volatile char*>(base)[page * kPage + (page & 511) * 8]);
    auto reads_end = Clock::now();
    result.touch_ns_per_page = ns_between(start, touched) / static_cast<double>(touch_order.size());
    result.read_ns_per_read = ns_between(reads_start, reads_end) / static_cast<double>(settings.reads);
    result.checksum = sum;
}

long kernel_vmas_in(std::uintptr_t start, std::uintptr_t end)
{
    std::FILE* maps = std::fopen("/proc/self/maps", "r");
    long count = 0;
    unsigned long from = 0;
    unsigned long to = 0;
    char line[512];
    while (maps && std::fgets(line, sizeof line, maps)) {
        if (std::sscanf(line, "%lx-%lx", &from, &to) == 2 && from >= start && to <= end)
            ++count;
    }
    if (maps)
        std::fclose(maps);
    return count;
}

bool run_native(const Settings& settings, Result& result, const std::vector<std::size_t>& touch_order,
    const std::vector<std::size_t>& read_order)
{
    void* memory = mmap(nullptr, settings.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED)
        return false;
    madvise(memory, settings.bytes, MADV_NOHUGEPAGE);
    run_phases(static_cast<char*>(memory), settings, result, touch_order, read_order, [] {});
    auto start = reinterpret_cast<std::uintptr_t>(memory);
    result.kernel_vmas = kernel_vmas_in(start, start + settings.bytes);
    result.emulated_vmas = 1;
    munmap(memory, settings.bytes);
    return true;
}

bool run_vmemu(const Settings& settings, vmemu::FaultSourceKind source, Result& result,
    const std::vector<std::size_t>& touch_order, const std::vector<std::size_t>& read_order)
{
    auto machine = vmemu::Machine::create({ .frames = settings.frames_bytes / kPage, .fault_source = source });
    if (!machine) {
        std::fprintf(stderr, "scale: %s\n", machine.error().what());
        return false;
    }
    auto space = (*machine)->create_address_space(std::max<std::size_t>(std::size_t { 64 } << 30, 2 * settings.bytes));
    if (!space) {
        std::fprintf(stderr, "scale: %s\n", space.error().what());
        return false;
    }
    auto region = (*space)->mmap(vmemu::VirtAddr(), settings.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    if (!region) {
        std::fprintf(stderr, "scale: mmap: %s\n", region.error().what());
        return false;
    }
    const vmemu::VmStat& stat = (*machine)->stat();
    long faults_before = 0;
    long spurious_before = 0;
    run_phases(region->ptr<char>(), settings, result, touch_order, read_order, [&] {
        faults_before = stat.value(vmemu::VmStatItem::PgFault);
        spurious_before = stat.value(vmemu::VmStatItem::PgFaultSpurious);
    });
    result.read_phase_faults = stat.value(vmemu::VmStatItem::PgFault) - faults_before;
    result.read_phase_spurious = stat.value(vmemu::VmStatItem::PgFaultSpurious) - spurious_before;
    result.kernel_vmas = kernel_vmas_in((*space)->reservation_start().get(), (*space)->reservation_end().get());
    result.emulated_vmas = static_cast<long>((*space)->vma_count());
    return true;
}

bool parse(int argc, char** argv, Settings& settings)
{
    for (int i = 1; i < argc; i += 2) {
        std::string option = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "scale: %s needs a value\n", option.c_str());
            return false;
        }
        const char* value = argv[i + 1];
        std::optional<std::size_t> size = vmemu::parse_size(value);
        if (option == "--bytes" && size && *size >= kPage)
            settings.bytes = *size & ~(kPage - 1);
        else if (option == "--frames" && size && *size >= kPage)
            settings.frames_bytes = *size;
        else if (option == "--reads" && std::strtoull(value, nullptr, 10) > 0)
            settings.reads = std::strtoull(value, nullptr, 10);
        else if (option == "--backends")
            settings.backends = value;
        else {
            std::fprintf(stderr, "scale: bad option %s %s\n", option.c_str(), value);
            return false;
        }
    }
    return true;
}

} // namespace

int main(int argc, char** argv)
{
    Settings settings;
    if (!parse(argc, argv, settings)) {
        std::fprintf(stderr, "usage: scale [--bytes SIZE] [--frames SIZE] [--reads N] [--backends native,vmemu,vmemu_uffd]\n");
        return 2;
    }
    std::size_t pages = settings.bytes / kPage;
    std::vector<std::size_t> touch_order(pages);
    std::iota(touch_order.begin(), touch_order.end(), 0);
    std::shuffle(touch_order.begin(), touch_order.end(), std::mt19937_64(2026));
    std::vector<std::size_t> read_order(settings.reads);
    std::mt19937_64 random(7);
    for (std::size_t& page : read_order)
        page = random() % pages;

    std::printf("%zu MiB touched at random in %zu MiB of frames, then %zu random reads\n\n", settings.bytes >> 20,
        settings.frames_bytes >> 20, settings.reads);
    std::printf("%-12s %14s %14s %12s %12s %12s %10s\n", "backend", "touch ns/page", "read ns/read", "read faults",
        "spurious", "kernel VMAs", "VMAs");
    std::map<std::string, Result> results;
    std::uint64_t checksum = 0;
    bool mismatch = false;
    for (const char* name : { "native", "vmemu", "vmemu_uffd" }) {
        if (("," + settings.backends + ",").find(std::string(",") + name + ",") == std::string::npos)
            continue;
        Result result;
        bool ran = std::strcmp(name, "native") == 0 ? run_native(settings, result, touch_order, read_order)
                                                    : run_vmemu(settings,
                                                          std::strcmp(name, "vmemu") == 0 ? vmemu::FaultSourceKind::Signal
                                                                                          : vmemu::FaultSourceKind::Userfault,
                                                          result, touch_order, read_order);
        if (!ran)
            return 1;
        if (!results.empty() && result.checksum != checksum)
            mismatch = true;
        checksum = result.checksum;
        results[name] = result;
        std::printf("%-12s %14.0f %14.1f %12ld %12ld %12ld %10ld\n", name, result.touch_ns_per_page,
            result.read_ns_per_read, result.read_phase_faults, result.read_phase_spurious, result.kernel_vmas,
            result.emulated_vmas);
        std::fflush(stdout);
    }
    if (results.count("native")) {
        std::printf("\nratios to native:\n");
        for (const auto& [name, result] : results) {
            if (name == "native")
                continue;
            std::printf("  %-12s first touch %6.2f   reads %6.2f (target <= 1.5)\n", name.c_str(),
                result.touch_ns_per_page / results["native"].touch_ns_per_page,
                result.read_ns_per_read / results["native"].read_ns_per_read);
        }
    }
    if (mismatch) {
        std::fprintf(stderr, "scale: the backends read different bytes\n");
        return 1;
    }
    return 0;
}
