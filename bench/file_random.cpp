// file_random: 4 KiB reads of a file through a mapping, vmemu and the kernel side by side in
// one run, cold cache each time, single thread:
//   1. random reads: vmemu with F of frames, the file mapped with MADV_RANDOM; the kernel's
//      own mmap of the same file with MADV_RANDOM, after posix_fadvise(POSIX_FADV_DONTNEED);
//   2. sequential reads of the whole file, page by page, both with default readahead.
// Every read checks the page's signature, so that both read the file's real bytes. The runs
// alternate (kernel, vmemu, kernel, vmemu...) so that the noise of a shared machine falls on
// both alike.
//
//   file_random [--file PATH] [--size SIZE] [--frames SIZE] [--reads N] [--rounds N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <random>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>
#include <vmemu/base/parse_size.hpp>
#include <vmemu/vmemu.hpp>

namespace {

constexpr std::size_t kPage = 4096;

struct Settings {
    std::string path { "/var/tmp/vmemu-file-random.dat" };
    std::size_t size { std::size_t { 1 } << 30 };
    std::size_t frames_bytes { std::size_t { 256 } << 20 };
    std::size_t reads { 20000 };
    unsigned rounds { 3 };
};

std::uint64_t signature(std::size_t page) { return page * 0x9e3779b97f4a7c15ull; }

[[noreturn]] void die(const char* what)
{
    std::fprintf(stderr, "file_random: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

// The file, each page starting with its signature; made once and kept for later runs.
void prepare_file(const Settings& settings)
{
    struct stat st;
    if (::stat(settings.path.c_str(), &st) == 0 && static_cast<std::size_t>(st.st_size) == settings.size)
        return;
    std::printf("writing %zu MiB to %s...\n", settings.size >> 20, settings.path.c_str());
    int fd = ::open(settings.path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        die("cannot create the file");
    std::vector<std::uint8_t> chunk(std::size_t { 1 } << 20);
    for (std::size_t offset = 0; offset < settings.size; offset += chunk.size()) {
        for (std::size_t page = 0; page < chunk.size() / kPage; ++page) {
            std::uint64_t value = signature((offset / kPage) + page);
            std::memcpy(chunk.data() + page * kPage, &value, sizeof value);
        }
        if (::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(offset)) != static_cast<ssize_t>(chunk.size()))
            die("cannot write the file");
    }
    ::fsync(fd);
    ::close(fd);
}

void drop_kernel_cache(int fd)
{
    ::fdatasync(fd);
    if (::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0)
        die("posix_fadvise");
}

struct Run {
    double seconds { 0 };
    std::size_t wrong { 0 };
};

// Reads the pages of order through base, checking each signature.
Run read_pages(const std::uint8_t* base, const std::vector<std::size_t>& order)
{
    Run run;
    auto start = std::chrono::steady_clock::now();
    for (std::size_t page : order) {
        std::uint64_t value;
        std::memcpy(&value, base + page * kPage, sizeof value);
        run.wrong += value != signature(page);
    }
    run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return run;
}

Run kernel_run(const Settings& settings, const std::vector<std::size_t>& order, bool random)
{
    int fd = ::open(settings.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("open");
    drop_kernel_cache(fd);
    void* base = ::mmap(nullptr, settings.size, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        die("mmap");
    if (random && ::madvise(base, settings.size, MADV_RANDOM) != 0)
        die("madvise");
    Run run = read_pages(static_cast<const std::uint8_t*>(base), order);
    ::munmap(base, settings.size);
    ::close(fd);
    return run;
}

Run vmemu_run(const Settings& settings, const std::vector<std::size_t>& order, bool random)
{
    int fd = ::open(settings.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("open");
    drop_kernel_cache(fd); // vmemu reads with O_DIRECT, but nothing may be left warm either way
    auto machine = vmemu::Machine::create({ .frames = settings.frames_bytes / kPage });
    if (!machine)
        die(machine.error().what());
    auto space = (*machine)->create_address_space(settings.size + (std::size_t { 1 } << 30));
    if (!space)
        die(space.error().what());
    auto base = (*space)->mmap(vmemu::VirtAddr(), settings.size, PROT_READ, MAP_SHARED, fd, 0);
    if (!base)
        die(base.error().what());
    if (random && !(*space)->madvise(*base, settings.size, MADV_RANDOM))
        die("madvise");
    Run run = read_pages(base->ptr<const std::uint8_t>(), order);
    space->reset();
    machine->reset();
    ::close(fd);
    return run;
}

} // namespace

int main(int argc, char** argv)
{
    Settings settings;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "file_random: %s needs a value\n", arg.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        auto size = [&](const std::string& text) {
            auto parsed = vmemu::parse_size(text.c_str());
            if (!parsed || *parsed == 0) {
                std::fprintf(stderr, "file_random: bad size '%s'\n", text.c_str());
                std::exit(2);
            }
            return *parsed;
        };
        if (arg == "--file")
            settings.path = value();
        else if (arg == "--size")
            settings.size = size(value()) / kPage * kPage;
        else if (arg == "--frames")
            settings.frames_bytes = size(value());
        else if (arg == "--reads")
            settings.reads = size(value());
        else if (arg == "--rounds")
            settings.rounds = static_cast<unsigned>(size(value()));
        else {
            std::fprintf(stderr, "usage: file_random [--file PATH] [--size SIZE] [--frames SIZE] [--reads N] [--rounds N]\n");
            return 2;
        }
    }
    prepare_file(settings);
    std::size_t pages = settings.size / kPage;
    std::mt19937_64 random(1);
    std::vector<std::size_t> random_order(settings.reads);
    for (std::size_t& page : random_order)
        page = random() % pages;
    std::vector<std::size_t> sequential_order(pages);
    for (std::size_t page = 0; page < pages; ++page)
        sequential_order[page] = page;

    std::printf("file %s, %zu MiB; vmemu frames %zu MiB; %zu random reads; %u rounds\n", settings.path.c_str(),
        settings.size >> 20, settings.frames_bytes >> 20, settings.reads, settings.rounds);
    std::printf("%-6s %-10s %14s %14s %8s\n", "round", "workload", "kernel /s", "vmemu /s", "ratio");
    double random_ratio = 0;
    double sequential_ratio = 0;
    double vmemu_random_rate = 0;
    bool wrong = false;
    for (unsigned round = 0; round < settings.rounds; ++round) {
        for (bool is_random : { true, false }) {
            const auto& order = is_random ? random_order : sequential_order;
            // Alternate which goes first, so that neither always follows the other's I/O.
            Run kernel;
            Run ours;
            if (round % 2 == 0) {
                kernel = kernel_run(settings, order, is_random);
                ours = vmemu_run(settings, order, is_random);
            } else {
                ours = vmemu_run(settings, order, is_random);
                kernel = kernel_run(settings, order, is_random);
            }
            wrong |= kernel.wrong || ours.wrong;
            double kernel_rate = static_cast<double>(order.size()) / kernel.seconds;
            double vmemu_rate = static_cast<double>(order.size()) / ours.seconds;
            std::printf("%-6u %-10s %14.0f %14.0f %8.2f\n", round + 1, is_random ? "random" : "sequential",
                kernel_rate, vmemu_rate, vmemu_rate / kernel_rate);
            std::fflush(stdout);
            (is_random ? random_ratio : sequential_ratio) += vmemu_rate / kernel_rate;
            if (is_random)
                vmemu_random_rate += vmemu_rate;
        }
    }
    std::printf("mean vmemu/kernel: random %.2f, sequential %.2f; vmemu random reads %.0f/s\n",
        random_ratio / settings.rounds, sequential_ratio / settings.rounds, vmemu_random_rate / settings.rounds);
    if (wrong) {
        std::printf("WRONG: a read returned bytes that are not the file's\n");
        return 1;
    }
    return 0;
}
