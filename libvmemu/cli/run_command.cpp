#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vmemu/stats/stats_segment.hpp>
#include <vmemu/trace/tracepoint.hpp>
#include "run_command.hpp"
#include "settings.hpp"

namespace vmemu::cli {

namespace {

constexpr int kBadInput = 2;

int bad_input(const std::string& message)
{
    std::fprintf(stderr, "vmemu run: %s\n", message.c_str());
    return kBadInput;
}

// A file that may be written: an existing one that is not a directory, or a new one in a
// directory that may be written.
bool can_write(const std::string& path)
{
    struct stat st {};
    if (stat(path.c_str(), &st) == 0)
        return !S_ISDIR(st.st_mode) && access(path.c_str(), W_OK) == 0;
    std::size_t slash = path.rfind('/');
    std::string directory = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    return access(directory.c_str(), W_OK | X_OK) == 0;
}

// What execvp() would fail with, found before anything starts: 0 when program runs; ENOENT
// when no file has its name (on PATH, when it has no slash); EACCES when there is one but it
// cannot be run (not executable, a directory), as execvp() reports it when it finds nothing
// better on the rest of PATH.
int program_error(const char* program)
{
    auto error_of = [](const std::string& path) {
        struct stat status {};
        if (stat(path.c_str(), &status) != 0)
            return ENOENT;
        return S_ISREG(status.st_mode) && access(path.c_str(), X_OK) == 0 ? 0 : EACCES;
    };
    if (std::strchr(program, '/'))
        return error_of(program);
    const char* search = std::getenv("PATH");
    std::string path = search ? search : "/usr/local/bin:/usr/bin:/bin";
    int error = ENOENT;
    for (std::size_t start = 0; start <= path.size();) {
        std::size_t end = path.find(':', start);
        if (end == std::string::npos)
            end = path.size();
        std::string directory = end == start ? "." : path.substr(start, end - start);
        int here = error_of(directory + "/" + program);
        if (here == 0)
            return 0;
        if (here == EACCES)
            error = EACCES;
        start = end + 1;
    }
    return error;
}

// The status of a program that could not be run, as the shells and env(1) give it.
int cannot_run_status(int error) { return error == ENOENT ? 127 : 126; }

// A program that ended without running the shim's exit handlers (killed by a signal, or
// after an exec into a program the shim cannot enter) left the counters it last published in
// its stats segment and wrote no statistics: vmemu run writes those counters to the --stats
// file, says so, and removes the segment.
void write_published_stats(const char* stats, pid_t program, int status)
{
    std::optional<PublishedStats> published = read_published_stats(program);
    remove_published_stats(program); // whole or not: the program is gone
    if (!published || !stats)
        return;
    std::string path = preload::output_file_for(stats, program);
    FILE* out = path == "-" ? stderr : std::fopen(path.c_str(), "w");
    if (!out) {
        std::fprintf(stderr, "vmemu run: cannot write the stats file %s: %s\n", path.c_str(), std::strerror(errno));
        return;
    }
    std::fputs(vmstat_text(*published).c_str(), out);
    if (out != stderr)
        std::fclose(out);
    std::string how = WIFSIGNALED(status) ? std::string("by signal ") + sigabbrev_np(WTERMSIG(status))
                                           : "with status " + std::to_string(WEXITSTATUS(status));
    std::uint64_t now = trace::now_ns();
    double age_ms = now > published->updated_ns ? static_cast<double>(now - published->updated_ns) / 1e6 : 0;
    std::fprintf(stderr, "vmemu run: the program ended %s without writing its statistics; %s has the counters it "
                         "published %.0f ms before its end\n",
        how.c_str(), path == "-" ? "stderr" : path.c_str(), age_ms);
}

// One line on stderr for each VMEMU_* variable in the environment that vmemu does not read (a
// misspelt setting would otherwise be ignored without a word).
void warn_of_unknown_variables()
{
    for (char** entry = environ; *entry; ++entry) {
        std::string_view variable(*entry);
        if (!variable.starts_with("VMEMU_"))
            continue;
        variable = variable.substr(0, variable.find('='));
        bool known = std::any_of(std::begin(preload::kVariables), std::end(preload::kVariables),
            [&](const char* name) { return variable == name; });
        if (!known)
            std::fprintf(stderr, "vmemu run: %.*s in the environment is not a vmemu setting; it is ignored\n",
                static_cast<int>(variable.size()), variable.data());
    }
}

constexpr int kPassedSignals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

// The program's process, for the handlers that pass signals on to it.
volatile pid_t s_child = 0;

// SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to vmemu run by a process (kill(1), a supervisor)
// go to the program. Those the terminal sends reach the program anyway, in the same process
// group: passing them on would deliver them twice.
void pass_on(int signal, siginfo_t* info, void*)
{
    if (info->si_code <= 0 && s_child > 0)
        kill(s_child, signal);
}

// The first item of a --trace-events list that names no event, or "".
std::string unknown_trace_event(const char* list)
{
    std::string items(list);
    for (std::size_t start = 0; start <= items.size();) {
        std::size_t end = std::min(items.find(',', start), items.size());
        std::string item = items.substr(start, end - start);
        if (item.empty() || !trace::set_event_filter(item.c_str()))
            return item.empty() ? "(empty)" : item;
        start = end + 1;
    }
    (void)trace::set_event_filter("all");
    return {};
}

} // namespace

int run_command(int argc, char** argv)
{
    preload::RunSettings settings;
    const char* frames = nullptr;
    const char* swap_size = nullptr;
    const char* backend = nullptr;
    const char* syscall_guard = nullptr;
    int program_at = -1;
    for (int i = 0; i < argc; ++i) {
        std::string option = argv[i];
        if (option == "--") {
            program_at = i + 1;
            break;
        }
        bool known = option == "--frames" || option == "--swap" || option == "--swap-size" || option == "--backend"
            || option == "--syscall-guard" || option == "--stats" || option == "--trace" || option == "--trace-events";
        if (!known)
            return bad_input(option.starts_with("-") ? "unknown option " + option
                                                     : "expected -- before the program (" + option + ")");
        if (i + 1 >= argc || std::strcmp(argv[i + 1], "--") == 0)
            return bad_input("option " + option + " needs a value");
        const char* value = argv[++i];
        const char* error = nullptr;
        if (option == "--frames") {
            error = preload::set_frames(settings, value);
            frames = value;
        } else if (option == "--swap-size") {
            error = preload::set_swap_size(settings, value);
            swap_size = value;
        } else if (option == "--backend") {
            error = preload::set_backend(settings, value);
            backend = value;
        } else if (option == "--syscall-guard") {
            error = preload::set_syscall_guard(settings, value);
            syscall_guard = value;
        } else if (option == "--swap") {
            settings.swap_path = value;
            if (!*value || !can_write(value))
                return bad_input(std::string("cannot write the swap file ") + value);
        } else if (option == "--stats") {
            settings.stats = value;
            if (std::strcmp(value, "-") != 0 && (!*value || !can_write(value)))
                return bad_input(std::string("cannot write the stats file ") + value);
        } else if (option == "--trace") {
            settings.trace = value;
            if (std::strcmp(value, "-") != 0 && (!*value || !can_write(value)))
                return bad_input(std::string("cannot write the trace file ") + value);
        } else if (option == "--trace-events") {
            settings.trace_events = value;
            if (std::string unknown = unknown_trace_event(value); !unknown.empty())
                return bad_input("unknown trace event '" + unknown + "' in --trace-events; the events are: "
                    + trace::known_event_names());
        }
        if (error)
            return bad_input(option + " " + value + ": " + error);
    }
    if (settings.trace_events && !settings.trace)
        return bad_input("--trace-events needs --trace FILE");
    if (program_at < 0 || program_at >= argc)
        return bad_input("no program to run (vmemu run [options] -- PROGRAM [ARGS...])");
    const char* program = argv[program_at];
    if (int error = program_error(program)) {
        std::fprintf(stderr, "vmemu run: %s: %s\n", program, std::strerror(error));
        return cannot_run_status(error);
    }
    warn_of_unknown_variables();
    const char* shim = std::getenv("VMEMU_PRELOAD");
    if (!shim || !*shim)
        shim = VMEMU_PRELOAD_PATH;
    if (access(shim, R_OK) != 0)
        return bad_input(std::string("cannot find the shim ") + shim);

    // The settings travel in the environment, where the shim reads them.
    auto export_variable = [](const char* name, const char* value) {
        if (value)
            setenv(name, value, 1);
    };
    export_variable("VMEMU_FRAMES", frames);
    export_variable("VMEMU_SWAP_SIZE", swap_size);
    export_variable("VMEMU_BACKEND", backend);
    export_variable("VMEMU_SYSCALL_GUARD", syscall_guard);
    export_variable("VMEMU_SWAP", settings.swap_path);
    export_variable("VMEMU_STATS", settings.stats);
    export_variable("VMEMU_TRACE", settings.trace);
    export_variable("VMEMU_TRACE_EVENTS", settings.trace_events);
    const char* preload = std::getenv("LD_PRELOAD");
    std::string preloads = std::string(shim) + (preload && *preload ? std::string(":") + preload : "");
    setenv("LD_PRELOAD", preloads.c_str(), 1);

    // The signals passed on wait, blocked, until the handlers know the program's pid.
    sigset_t passed, old_mask;
    sigemptyset(&passed);
    for (int signal : kPassedSignals)
        sigaddset(&passed, signal);
    sigprocmask(SIG_BLOCK, &passed, &old_mask);
    std::fflush(nullptr);
    pid_t child = fork();
    if (child < 0) {
        std::fprintf(stderr, "vmemu run: fork: %s\n", std::strerror(errno));
        return 1;
    }
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &old_mask, nullptr);
        execvp(program, argv + program_at);
        int error = errno;
        std::fprintf(stderr, "vmemu run: %s: %s\n", program, std::strerror(error));
        _exit(cannot_run_status(error));
    }
    // The program gets the signals meant for it; vmemu waits and reports how it ended.
    s_child = child;
    struct sigaction forward {};
    forward.sa_sigaction = pass_on;
    forward.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&forward.sa_mask);
    for (int signal : kPassedSignals)
        sigaction(signal, &forward, nullptr);
    sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) {
            std::fprintf(stderr, "vmemu run: waitpid: %s\n", std::strerror(errno));
            return 1;
        }
    }
    write_published_stats(settings.stats, child, status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

} // namespace vmemu::cli
