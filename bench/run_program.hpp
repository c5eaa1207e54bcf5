#pragma once
// One run of a program for the benchmarks that time real programs: its wall time, peak RSS,
// exit status and standard output.
#include <chrono>
#include <functional>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

struct Run {
    double seconds { 0 };
    long peak_rss_kb { 0 };
    int status { -1 };
    std::string output;
};

// Runs command; before exec, the child calls prepare (to enter a cgroup).
inline Run run(const std::vector<std::string>& command, const std::function<bool()>& prepare = {})
{
    Run result;
    int pipes[2];
    if (pipe(pipes) != 0)
        return result;
    auto started = std::chrono::steady_clock::now();
    pid_t child = fork();
    if (child == 0) {
        if (prepare && !prepare())
            _exit(125);
        dup2(pipes[1], 1);
        close(pipes[0]);
        std::vector<char*> argv;
        for (const std::string& word : command)
            argv.push_back(const_cast<char*>(word.c_str()));
        argv.push_back(nullptr);
        execvp(argv[0], argv.data());
        _exit(127);
    }
    close(pipes[1]);
    char buffer[65536];
    for (ssize_t got; (got = read(pipes[0], buffer, sizeof buffer)) > 0;)
        result.output.append(buffer, static_cast<std::size_t>(got));
    close(pipes[0]);
    int status = 0;
    rusage usage {};
    wait4(child, &status, 0, &usage);
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    result.peak_rss_kb = usage.ru_maxrss;
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

