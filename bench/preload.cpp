// preload: real programs under `vmemu run`, side by side with the kernel, in one run.
//   1. natively, with no limit (the reference: wall time, peak RSS, and the output);
//   2. under vmemu with ample frames (4 x the peak RSS): target <= 1.3 x native;
//   3. natively in a memory cgroup (v1) limited to a third of the peak RSS, with a swap file
//      of its own (needs root; skipped otherwise);
//   4. under vmemu with frames at a third of the peak RSS: target <= 1.15 x the kernel's (3).
// Every run's output must be the native run's, byte for byte.
//
//   preload [--vmemu PATH] [--swap-dir DIR] [--workloads DIR] [--only NAME]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>
#include "kernel_limit.hpp"
#include "run_program.hpp"

namespace {

struct Workload {
    std::string name;
    std::vector<std::string> command;
};

std::vector<std::string> under_vmemu(const std::string& vmemu, std::size_t frames_bytes, const std::string& swap_dir,
    const std::vector<std::string>& command)
{
    std::size_t frames = std::max<std::size_t>(frames_bytes / 4096 * 4096, std::size_t { 4 } << 20);
    std::vector<std::string> words { vmemu, "run", "--frames", std::to_string(frames), "--" };
    words.insert(words.end(), command.begin(), command.end());
    setenv("TMPDIR", swap_dir.c_str(), 1);
    return words;
}

} // namespace

int main(int argc, char** argv)
{
    std::string vmemu = VMEMU_COMMAND_PATH;
    std::string swap_dir = "/var/tmp";
    std::string workloads_dir = VMEMU_WORKLOADS_DIR;
    std::string only;
    for (int i = 1; i < argc; ++i) {
        std::string option = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "preload: %s needs a value\n", option.c_str());
            return 2;
        }
        std::string value = argv[++i];
        if (option == "--vmemu")
            vmemu = value;
        else if (option == "--swap-dir")
            swap_dir = value;
        else if (option == "--workloads")
            workloads_dir = value;
        else if (option == "--only")
            only = value;
        else {
            std::fprintf(stderr, "preload: unknown option %s\n", option.c_str());
            return 2;
        }
    }
    // sort's input: 2 million pseudo-random lines, made once.
    std::string sort_input = swap_dir + "/vmemu-bench-sort-" + std::to_string(getpid()) + ".txt";
    {
        FILE* out = std::fopen(sort_input.c_str(), "w");
        if (!out) {
            std::fprintf(stderr, "preload: cannot write %s\n", sort_input.c_str());
            return 2;
        }
        std::uint64_t x = 42;
        for (int line = 0; line < 2000000; ++line) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            std::fprintf(out, "%016llx %.*s\n", static_cast<unsigned long long>(x), static_cast<int>(x >> 58),
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        }
        std::fclose(out);
    }
    std::vector<Workload> workloads {
        { "python", { "/usr/bin/python3", workloads_dir + "/python_dicts.py", "1000000" } },
        { "sqlite", { "sqlite3", ":memory:", ".parameter set @rows 400000", ".read " + workloads_dir + "/sqlite_memory.sql" } },
        { "sort", { "sort", "-S", "256M", sort_input } },
    };
    std::printf("%-8s %10s %10s %12s %12s %12s %10s %10s\n", "workload", "peak RSS", "native s", "vmemu ample",
        "kernel 1/3", "vmemu 1/3", "ample/nat", "1/3 vs k");
    bool all_same = true;
    for (const Workload& workload : workloads) {
        if (!only.empty() && workload.name != only)
            continue;
        Run native = run(workload.command);
        if (native.status != 0) {
            std::printf("%-8s fails natively (status %d): skipped\n", workload.name.c_str(), native.status);
            continue;
        }
        std::size_t peak = static_cast<std::size_t>(native.peak_rss_kb) * 1024;
        Run ample = run(under_vmemu(vmemu, 4 * peak, swap_dir, workload.command));
        Run pressed = run(under_vmemu(vmemu, peak / 3, swap_dir, workload.command));
        std::optional<Run> kernel;
        if (geteuid() == 0) {
            KernelLimit limit(swap_dir, peak / 3, 4 * peak);
            if (limit.ready())
                kernel = run(workload.command, [&] { return limit.enter(); });
            else
                std::printf("preload: no kernel-with-limit run: %s\n", limit.error().c_str());
        }
        auto check = [&](const char* what, const Run& other) {
            if (other.status == 0 && other.output == native.output)
                return true;
            std::printf("%s, %s: status %d, %zu bytes of output where the native run printed %zu\n",
                workload.name.c_str(), what, other.status, other.output.size(), native.output.size());
            return false;
        };
        // vmemu must give the native output; the kernel may kill the program instead (its
        // memory cgroup's OOM killer, status 137), which is reported as such.
        bool ample_same = check("vmemu with ample frames", ample);
        bool pressed_same = check("vmemu with a third", pressed);
        bool same = ample_same && pressed_same;
        all_same &= same;
        if (kernel && !check("kernel with a third", *kernel))
            kernel.reset();
        std::printf("%-8s %7ld MB %10.2f %12.2f %12s %12.2f %10.2f %10s%s\n", workload.name.c_str(),
            native.peak_rss_kb / 1024, native.seconds, ample.seconds,
            kernel ? std::to_string(kernel->seconds).substr(0, 6).c_str() : "failed", pressed.seconds,
            ample.seconds / native.seconds,
            kernel ? std::to_string(pressed.seconds / kernel->seconds).substr(0, 5).c_str() : "-",
            same ? "" : "  OUTPUT DIFFERS");
        std::fflush(stdout);
    }
    unlink(sort_input.c_str());
    std::printf("\ntargets: vmemu with ample frames <= 1.3 x native; vmemu at a third of the peak RSS <= 1.15 x the kernel\n");
    return all_same ? 0 : 1;
}
