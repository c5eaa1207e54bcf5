#pragma once
// What the stress examples share: their options (--frames, --swap, --swap-size, --stats),
// the Machine they run on, the report at the end, and the page signatures that let each of
// them verify every byte it wrote; and the vmstat deltas the teaching examples print.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <sys/mman.h>
#include <vmemu/vmemu.hpp>

namespace vmemu::example {

struct Options {
    std::size_t frames_bytes { std::size_t { 16 } << 20 };
    std::string swap_path;        // empty: a private swap file
    std::size_t swap_bytes { 0 }; // 0: four times the frames plus the working set
    std::string stats;            // empty: none; "-": stderr
    unsigned threads { 1 };
    double seconds { 60 };
};

// What a program takes besides --frames, --swap, --swap-size and --stats.
struct ExtraOptions {
    bool threads { false }; // --threads N
    bool seconds { false }; // --seconds S
};

[[noreturn]] inline void usage_error(const char* program, const std::string& message)
{
    std::fprintf(stderr, "%s: %s\n", program, message.c_str());
    std::exit(2);
}

inline Options parse_options(int argc, char** argv, ExtraOptions extra = {})
{
    Options options;
    const char* program = argv[0];
    for (int i = 1; i < argc; ++i) {
        std::string option = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc)
                usage_error(program, "option " + option + " needs a value");
            return argv[++i];
        };
        auto size = [&]() {
            const char* text = value();
            auto parsed = parse_size(text);
            if (!parsed || *parsed == 0)
                usage_error(program, "malformed size '" + std::string(text) + "' for " + option);
            return *parsed;
        };
        if (option == "--frames")
            options.frames_bytes = size();
        else if (option == "--swap")
            options.swap_path = value();
        else if (option == "--swap-size")
            options.swap_bytes = size();
        else if (option == "--stats")
            options.stats = value();
        else if (option == "--threads" && extra.threads) {
            auto parsed = parse_size(value());
            if (!parsed || *parsed == 0 || *parsed > 64)
                usage_error(program, "--threads takes 1 to 64");
            options.threads = static_cast<unsigned>(*parsed);
        } else if (option == "--seconds" && extra.seconds) {
            const char* text = value();
            char* end = nullptr;
            options.seconds = std::strtod(text, &end);
            if (*text == '\0' || *end != '\0' || !(options.seconds > 0) || options.seconds > 7 * 24 * 3600)
                usage_error(program, "--seconds takes a number of seconds above 0, at most a week");
        } else
            usage_error(program, "unknown option " + option);
    }
    if (options.frames_bytes % kPageSize)
        usage_error(program, "--frames must be a multiple of 4K");
    return options;
}

// A Machine with the options' frames and a swap device big enough for working_set bytes.
inline std::unique_ptr<Machine> make_machine(const char* program, const Options& options, std::size_t working_set)
{
    MachineConfig config { .frames = options.frames_bytes / kPageSize };
    SwapDeviceConfig swap;
    swap.path = options.swap_path;
    std::size_t wanted = options.swap_bytes ? options.swap_bytes : working_set + options.frames_bytes;
    swap.bytes = (wanted + kPageSize - 1) / kPageSize * kPageSize + kPageSize;
    config.swap = swap;
    auto machine = Machine::create(config);
    if (!machine)
        usage_error(program, std::string("cannot start: ") + machine.error().what() + " ("
                + std::strerror(machine.error().code()) + ")");
    return std::move(*machine);
}

inline void report(const char* program, Machine& machine, const Options& options)
{
    std::string text = machine.vmstat() + machine.meminfo();
    std::printf("\n== /proc/vmstat and /proc/meminfo\n%s\n== /proc/swaps\n%s", text.c_str(), machine.swaps().c_str());
    if (options.stats.empty())
        return;
    FILE* out = options.stats == "-" ? stderr : std::fopen(options.stats.c_str(), "w");
    if (!out)
        usage_error(program, "cannot write " + options.stats + ": " + std::strerror(errno));
    std::fputs(text.c_str(), out);
    if (out != stderr)
        std::fclose(out);
}

// The machine's /proc/vmstat, by name.
inline std::map<std::string, long long> vmstat_values(const Machine& machine)
{
    std::map<std::string, long long> values;
    std::istringstream in(machine.vmstat());
    std::string name;
    long long value;
    while (in >> name >> value)
        values[name] = value;
    return values;
}

// The vmstat counters that changed since before, as `vmstat` deltas.
inline void print_vmstat_changes(const std::map<std::string, long long>& before, const Machine& machine)
{
    for (const auto& [name, value] : vmstat_values(machine)) {
        auto old = before.find(name);
        long long delta = value - (old == before.end() ? 0 : old->second);
        if (delta != 0)
            std::printf("  %-24s %+lld\n", name.c_str(), delta);
    }
}

inline std::int64_t stat(const Machine& machine, VmStatItem item) { return machine.stat().value(item); }

// Every page carries its number and its generation at three places, so that a page that
// comes back wrong, from another slot or half-written, is caught.
struct PageSignature {
    static std::uint32_t at(std::size_t page, std::size_t word, std::uint32_t generation)
    {
        return static_cast<std::uint32_t>((page * 2654435761u) ^ (word * 40503u) ^ (generation * 97u));
    }
    static constexpr std::size_t kWords[] = { 0, 517, 1023 };
    static void write(std::uint32_t* words, std::size_t page, std::uint32_t generation)
    {
        for (std::size_t word : kWords)
            words[page * 1024 + word] = at(page, word, generation);
    }
    static bool check(const std::uint32_t* words, std::size_t page, std::uint32_t generation)
    {
        for (std::size_t word : kWords) {
            if (words[page * 1024 + word] != at(page, word, generation))
                return false;
        }
        return true;
    }
};

inline VirtAddr map_region(const char* program, AddressSpace& space, std::size_t bytes)
{
    auto region = space.mmap(VirtAddr(), bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    if (!region)
        usage_error(program, std::string("mmap: ") + region.error().what());
    return *region;
}

// What every stress example starts with: a Machine sized by the options, an address space,
// and a region of pages mapped in it. The address space dies before its Machine.
struct Run {
    std::unique_ptr<Machine> machine;
    std::unique_ptr<AddressSpace> space;
    VirtAddr region;
    std::size_t pages { 0 };
};

inline Run start(const char* program, const Options& options, std::size_t pages)
{
    Run run;
    run.machine = make_machine(program, options, pages * kPageSize);
    auto space = run.machine->create_address_space(std::size_t { 64 } << 30);
    if (!space)
        usage_error(program, space.error().what());
    run.space = std::move(*space);
    run.region = map_region(program, *run.space, pages * kPageSize);
    run.pages = pages;
    return run;
}

} // namespace vmemu::example
