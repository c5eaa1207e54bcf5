#pragma once
// The tour's chapters (docs/tour.md): small programs on one Machine each, that print what the
// kernel would show in /proc and ftrace at every step of one mm concept.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vmemu/vmemu.hpp>
#include "../example_support.hpp"

namespace vmemu::tour {

struct Options {
    std::string trace; // empty: no trace; else the ftrace text goes there at the end
    double seconds { 3 }; // for each phase of the latency exercise
    std::string svg; // empty: no picture; else the chapter's picture goes there
    std::string slabinfo; // the slab chapter's input, a /proc/slabinfo (2.1) text
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

using example::print_vmstat_changes;
using example::vmstat_values;

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

int maps_chapter(const Options& options);
int walk_chapter(const Options& options);
int buddy_chapter(const Options& options);
int slab_chapter(const Options& options);
int cow_chapter(const Options& options);
int latency_chapter(const Options& options);

} // namespace vmemu::tour
