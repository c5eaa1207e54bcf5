// The shim's start and end: the Machine is built from the VMEMU_* variables before the
// program's own constructors run, and the counters are written when it exits.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <pthread.h>
#include <unistd.h>
#include <vmemu/fault/syscall_user_dispatch.hpp>
#include <vmemu/os/signals.hpp>
#include <string_view>
#include <vmemu/trace/latency.hpp>
#include <vmemu/base/thread_role.hpp>
#include "file_mappings.hpp"
#include "libc_heap.hpp"
#include "runtime.hpp"

extern char** environ;

namespace vmemu::preload {

namespace {
Runtime* g_runtime = nullptr;
// Each thread's trace ring: 2^20 events of 64 bytes, mapped with MAP_NORESERVE, so a thread
// pays for what it records; past that, its oldest events go.
constexpr std::size_t kTraceEventsPerThread = std::size_t { 1 } << 20;

[[noreturn]] void fail(const char* what, const char* detail)
{
    std::fprintf(stderr, "vmemu: cannot start: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    _exit(2);
}

// fork(2): the child gets a machine of its own with a copy of the emulated memory (see
// Machine::prepare_fork()); the heap's lock is taken first, as heap code faults with it held.
void prepare_fork() VM_NO_THREAD_SAFETY_ANALYSIS
{
    Runtime* state = runtime();
    state->heap.lock_for_fork();
    state->machine->prepare_fork();
}

void fork_parent() VM_NO_THREAD_SAFETY_ANALYSIS
{
    Runtime* state = runtime();
    state->machine->fork_parent();
    state->heap.unlock_after_fork();
}

void fork_child() VM_NO_THREAD_SAFETY_ANALYSIS
{
    Runtime* state = runtime();
    // The statistics are the program's, which the parent writes at its exit, and a named swap
    // file is the parent's; with "%p" in its name, the child writes statistics of its own (and
    // a program it execs traces to a file of its own: this process's trace stops here).
    if (!names_each_process(state->settings.stats))
        state->settings.stats = nullptr;
    if (!names_each_process(state->settings.trace))
        state->settings.trace = nullptr;
    state->settings.swap_path = nullptr;
    trace::stop();
    trace::stop_histograms();
    state->pid = getpid();
    state->trace_file.clear();
    VmResult<void> result;
    {
        // The Runtime's strings, and the machine's objects, live in libc's heap.
        ScopedLibcAllocations libc_allocations;
        if (state->settings.stats)
            state->stats_file = output_file_for(state->settings.stats, state->pid);
        else
            state->stats_file.clear();
        result = state->machine->fork_child();
    }
    state->heap.unlock_after_fork();
    if (!result) {
        os::write_stderr("vmemu: a child of fork() has no copy of emulated memory: ");
        os::write_stderr(result.error().what());
        os::write_stderr(": ");
        os::write_stderr(std::strerror(result.error().code()));
        os::write_stderr("\n");
    }
}

void start()
{
    ScopedLibcAllocations libc_allocations;
    note_libc_text();
    auto* state = new Runtime;
    if (const char* error = read_environment(state->settings, environ))
        fail(error, nullptr);

    // Programs this one starts run under vmemu too (LD_PRELOAD stays), each on a Machine of its
    // own: they must not share this one's swap file, nor overwrite its statistics. (The
    // settings keep pointing at the strings, which unsetenv() leaves where they are; an exec
    // of this very process puts them back, see exec_interpose.cpp.)
    state->pid = getpid();
    unsetenv("VMEMU_SWAP");
    if (!names_each_process(state->settings.stats))
        unsetenv("VMEMU_STATS");
    if (!names_each_process(state->settings.trace)) {
        unsetenv("VMEMU_TRACE");
        unsetenv("VMEMU_TRACE_EVENTS");
    }
    if (state->settings.stats)
        state->stats_file = output_file_for(state->settings.stats, state->pid);
    if (state->settings.trace)
        state->trace_file = output_file_for(state->settings.trace, state->pid);
    // Tracing starts first, so that the machine's own start is in the trace. The latency
    // histograms are part of the trace and of the statistics.
    if (state->settings.trace) {
        if (state->settings.trace_events && !trace::set_event_filter(state->settings.trace_events))
            fail("unknown trace event in VMEMU_TRACE_EVENTS", state->settings.trace_events);
        if (auto started = trace::start(kTraceEventsPerThread); !started)
            fail(started.error().what(), std::strerror(started.error().code()));
    }
    if (state->settings.trace || state->settings.stats)
        trace::start_histograms();
    MachineConfig config { .frames = state->settings.frames_bytes / 4096 };
    // auto is userfaultfd in SIGBUS mode where the kernel has it, the SIGSEGV view elsewhere
    // (docs/userfaultfd.md).
    switch (state->settings.backend) {
    case Backend::Auto: config.fault_source = FaultSourceKind::Auto; break;
    case Backend::Signal: config.fault_source = FaultSourceKind::Signal; break;
    case Backend::Uffd: config.fault_source = FaultSourceKind::Userfault; break;
    }
    SwapDeviceConfig swap;
    if (state->settings.swap_path)
        swap.path = state->settings.swap_path;
    swap.bytes = state->settings.effective_swap_bytes();
    config.swap = swap;
    auto machine = Machine::create(config);
    if (!machine)
        fail(machine.error().what(), std::strerror(machine.error().code()));
    state->machine = std::move(*machine);
    auto space = state->machine->create_address_space();
    if (!space)
        fail(space.error().what(), std::strerror(space.error().code()));
    state->space = std::move(*space);
    // For vmemu top; a program runs without it if /dev/shm will not have it.
    (void)state->machine->publish_stats();
    if (state->settings.trace) {
        if (auto sampling = state->machine->start_trace_sampling(); !sampling)
            fail(sampling.error().what(), std::strerror(sampling.error().code()));
    }
    if (!state->heap.init(*state->space, std::size_t { 16 } << 30))
        fail("cannot map the slab area", nullptr);
    __atomic_store_n(&g_runtime, state, __ATOMIC_RELEASE);
    pthread_atfork(prepare_fork, fork_parent, fork_child);
    // Last: from here on this thread's calls outside vmemu are diverted.
    if (state->settings.syscall_guard == SyscallGuard::On) {
        if (auto enabled = SyscallUserDispatch::enable(*state->space); !enabled)
            std::fprintf(stderr, "vmemu: system calls go to the kernel unguarded: %s: %s\n", enabled.error().what(),
                std::strerror(enabled.error().code()));
    }
}

// The file named by a setting, or stderr for "-"; nullptr, after one line on stderr, when it
// cannot be written.
FILE* open_output(const char* path)
{
    if (std::strcmp(path, "-") == 0)
        return stderr;
    FILE* out = std::fopen(path, "w");
    if (!out)
        std::fprintf(stderr, "vmemu: cannot write %s: %s\n", path, std::strerror(errno));
    return out;
}

void close_output(FILE* out)
{
    if (out != stderr)
        std::fclose(out);
}

void write_trace()
{
    Runtime* state = runtime();
    if (!state || state->trace_file.empty())
        return;
    ScopedLibcAllocations libc_allocations;
    state->machine->stop_trace_sampling();
    trace::stop();
    if (FILE* out = open_output(state->trace_file.c_str())) {
        std::string_view path(state->trace_file);
        if (path.ends_with(".json"))
            trace::write_chrome_json(out);
        else
            trace::write_ftrace(out);
        close_output(out);
    }
}

void write_stats()
{
    Runtime* state = runtime();
    if (!state || state->stats_file.empty())
        return;
    ScopedLibcAllocations libc_allocations;
    std::string text = state->machine->vmstat() + state->machine->meminfo() + "\n" + state->machine->buddyinfo()
        + "\n" + state->heap.slabinfo();
    trace::stop_histograms();
    if (FILE* out = open_output(state->stats_file.c_str())) {
        std::fputs(text.c_str(), out);
        std::fputs("\n", out);
        trace::write_histograms(out);
        close_output(out);
    }
}

// Before the program's constructors, after those of the libraries it links.
__attribute__((constructor(101))) void preload_start() { start(); }
__attribute__((destructor(101))) void preload_end()
{
    // The file pages the program dirtied reach their files, as the kernel's page cache would
    // keep them past the program's end.
    write_back_all_files();
    write_outputs();
    if (Runtime* state = runtime())
        state->machine->stop_publishing_stats();
}

} // namespace

void write_outputs()
{
    write_trace();
    write_stats();
}

Runtime* runtime() { return __atomic_load_n(&g_runtime, __ATOMIC_ACQUIRE); }

Runtime* runtime_for(const void* caller)
{
    Runtime* state = runtime();
    if (!state || ScopedLibcAllocations::active() || is_vmemu_thread() || called_from_libc(caller))
        return nullptr;
    return state;
}

} // namespace vmemu::preload
