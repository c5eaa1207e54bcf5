#pragma once
// The tour's chapters (docs/tour.md): small programs on one Machine each, that print what the
// kernel would show in /proc and ftrace at every step of one mm concept.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vmemu/vmemu.hpp>

namespace vmemu::tour {

struct Options {
    std::string trace; // empty: no trace; else the ftrace text goes there at the end
    double seconds { 3 }; // for each phase of the latency exercise
};

[[noreturn]] inline void fail(const char* what, const VmError& error)
{
    std::fprintf(stderr, "tour: %s: %s (%s)\n", what, error.what(), std::strerror(error.code()));
    std::exit(1);
}

template<typename T>
T check(VmResult<T> result, const char* what)
{
    if (!result)
        fail(what, result.error());
    if constexpr (!std::is_void_v<T>)
        return std::move(*result);
}

inline std::unique_ptr<Machine> make_machine(std::size_t frames, std::size_t swap_bytes = 0, bool kswapd = true)
{
    MachineConfig config { .frames = frames, .kswapd = kswapd };
    if (swap_bytes)
        config.swap = SwapDeviceConfig { .bytes = swap_bytes };
    return check(Machine::create(config), "machine");
}

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

// Records the chapter's events and samples the machine into options.trace, for `vmemu report`.
class TraceRecording {
public:
    TraceRecording(Machine& machine, const Options& options);
    ~TraceRecording();
    TraceRecording(const TraceRecording&) = delete;
    TraceRecording& operator=(const TraceRecording&) = delete;

private:
    Machine& m_machine;
    std::string m_path;
};

int walk_chapter(const Options& options);
int buddy_chapter(const Options& options);
int cow_chapter(const Options& options);
int latency_chapter(const Options& options);

} // namespace vmemu::tour
