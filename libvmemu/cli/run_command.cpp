#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
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

// execvp()'s search, done before anything starts, so that a missing program is bad input.
bool program_exists(const char* program)
{
    auto runnable = [](const std::string& path) {
        struct stat status {};
        return stat(path.c_str(), &status) == 0 && S_ISREG(status.st_mode) && access(path.c_str(), X_OK) == 0;
    };
    if (std::strchr(program, '/'))
        return runnable(program);
    const char* search = std::getenv("PATH");
    std::string path = search ? search : "/usr/local/bin:/usr/bin:/bin";
    for (std::size_t start = 0; start <= path.size();) {
        std::size_t end = path.find(':', start);
        if (end == std::string::npos)
            end = path.size();
        std::string directory = end == start ? "." : path.substr(start, end - start);
        if (runnable(directory + "/" + program))
            return true;
        start = end + 1;
    }
    return false;
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
    if (!program_exists(program))
        return bad_input(std::string(program) + ": no such program");
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

    std::fflush(nullptr);
    pid_t child = fork();
    if (child < 0) {
        std::fprintf(stderr, "vmemu run: fork: %s\n", std::strerror(errno));
        return 1;
    }
    if (child == 0) {
        execvp(program, argv + program_at);
        std::fprintf(stderr, "vmemu run: %s: %s\n", program, std::strerror(errno));
        _exit(127);
    }
    // The terminal's ^C and ^\ are for the program; vmemu reports how it ended.
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) {
            std::fprintf(stderr, "vmemu run: waitpid: %s\n", std::strerror(errno));
            return 1;
        }
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

} // namespace vmemu::cli
