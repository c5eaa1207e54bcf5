#pragma once
#include <algorithm>
#include <cstddef>
#include <string>
#include <sys/types.h>

namespace vmemu::preload {

enum class Backend : unsigned char { Auto, Signal, Uffd };
// Whether the program's system calls are diverted and their memory pinned at the boundary
// (fault/syscall_user_dispatch.hpp).
enum class SyscallGuard : unsigned char { On, Off };

// What `vmemu run` and the VMEMU_* variables set. Strings point into the environment or argv,
// which outlive the program; nothing here allocates, so the shim can read it before any heap.
struct RunSettings {
    static constexpr std::size_t kDefaultFrames = std::size_t { 256 } << 20;
    // Below this, a program's own start-up does not fit beside vmemu's watermarks.
    static constexpr std::size_t kMinFrames = std::size_t { 4 } << 20;

    std::size_t frames_bytes { kDefaultFrames };
    const char* swap_path { nullptr }; // nullptr: a private unnamed file
    std::size_t swap_bytes { 0 };      // 0: four times the frames, and at least 256 MiB
    Backend backend { Backend::Auto };
    SyscallGuard syscall_guard { SyscallGuard::On };
    const char* stats { nullptr }; // "-": stderr
    const char* trace { nullptr };        // FILE.json: the Chrome trace format; otherwise ftrace's
    const char* trace_events { nullptr }; // set_event_filter()'s list; nullptr: all

    std::size_t effective_swap_bytes() const
    {
        return swap_bytes ? swap_bytes : std::max(4 * frames_bytes, std::size_t { 256 } << 20);
    }
};

// Every VMEMU_* variable vmemu reads: the settings above, the shim's path (vmemu run) and the
// log level (VMEMU_LOG). vmemu run warns of any other.
inline constexpr const char* kVariables[] = { "VMEMU_FRAMES", "VMEMU_SWAP", "VMEMU_SWAP_SIZE", "VMEMU_BACKEND",
    "VMEMU_SYSCALL_GUARD", "VMEMU_STATS", "VMEMU_TRACE", "VMEMU_TRACE_EVENTS", "VMEMU_PRELOAD", "VMEMU_LOG" };

// Reads the VMEMU_* variables from environ (straight from the array, as mimalloc does).
// Returns nullptr, or a one-line description of the first bad value.
const char* read_environment(RunSettings& settings, char** environment);

// A --stats or --trace file name for the process pid: "%p" is its pid, "%%" a '%' (as
// valgrind's --log-file has them).
std::string output_file_for(const char* pattern, pid_t pid);
// Whether each process gets a file of its own from pattern: then processes the program starts
// keep it in their environment, and write their own.
bool names_each_process(const char* pattern);

// The checks `vmemu run` makes of its options too: nullptr, or what is wrong.
const char* set_frames(RunSettings& settings, const char* text);
const char* set_swap_size(RunSettings& settings, const char* text);
const char* set_backend(RunSettings& settings, const char* text);
const char* set_syscall_guard(RunSettings& settings, const char* text);

} // namespace vmemu::preload
