// syscall_boundary: what the system-call boundary (Syscall User Dispatch, docs/syscall-boundary.md)
// costs a program that makes many system calls, with frames to spare so that nothing swaps.
// Each workload runs natively, under vmemu with --syscall-guard off and with it on, in
// alternating rounds; the table gives the median of each and the ratios. Target: guard on
// <= 1.2 x native. Every run's output must be the native run's, byte for byte.
//
//   syscall_boundary [--vmemu PATH] [--dir DIR] [--rounds N] [--files N] [--rows N]
//
// - tar: `tar -cf -` of N small files (20,000 by default, 100 to 4,000 bytes each) to a pipe:
//   openat, fstat, read, close for each, getdents64 and write.
// - sqlite: a file database with 512-byte pages, no memory map and a 64 KiB cache, N single-row
//   transactions (a journal written and deleted for each) and as many lookups by key.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <vector>
#include "run_program.hpp"

namespace {

double median(std::vector<double> values)
{
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

// The value of counter name in a --stats file, or -1.
long long stat_counter(const std::string& path, const std::string& name)
{
    std::ifstream in(path);
    std::string key;
    long long value;
    while (in >> key) {
        if (key == name && in >> value)
            return value;
        in.ignore(1 << 20, '\n');
    }
    return -1;
}

bool make_files(const std::string& dir, int files)
{
    if (mkdir(dir.c_str(), 0700) != 0)
        return false;
    std::uint64_t x = 7;
    for (int i = 0; i < files; ++i) {
        std::string sub = dir + "/d" + std::to_string(i / 1000);
        mkdir(sub.c_str(), 0700);
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        std::string content(100 + (x >> 33) % 3900, static_cast<char>('a' + i % 26));
        std::ofstream(sub + "/f" + std::to_string(i)) << content;
    }
    return true;
}

bool make_sql(const std::string& path, int rows)
{
    std::ofstream sql(path);
    sql << "PRAGMA page_size = 512;\nPRAGMA mmap_size = 0;\nPRAGMA cache_size = -64;\n"
           "PRAGMA journal_mode = delete;\nPRAGMA synchronous = off;\n"
           "CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, v TEXT);\nCREATE INDEX t_k ON t (k);\n";
    for (int i = 1; i <= rows; ++i)
        sql << "INSERT INTO t VALUES (" << i << ", " << (i * 7919) % 1000 << ", printf('%08d-%0100d', " << i << ", "
            << i << "));\n";
    for (int i = 1; i <= rows; ++i)
        sql << "SELECT length(v) FROM t WHERE id = " << (i * 7919) % rows + 1 << ";\n";
    sql << "SELECT count(*), sum(k), max(v) FROM t;\n";
    return static_cast<bool>(sql);
}

} // namespace

int main(int argc, char** argv)
{
    std::string vmemu = VMEMU_COMMAND_PATH;
    std::string dir = "/var/tmp";
    int rounds = 5;
    int files = 20000;
    int rows = 3000;
    for (int i = 1; i < argc; ++i) {
        std::string option = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "syscall_boundary: %s needs a value\n", option.c_str());
            return 2;
        }
        std::string value = argv[++i];
        if (option == "--vmemu") {
            vmemu = value;
        } else if (option == "--dir") {
            dir = value;
        } else if (option == "--rounds" || option == "--files" || option == "--rows") {
            int number = std::atoi(value.c_str());
            if (number < 1) {
                std::fprintf(stderr, "syscall_boundary: %s wants a positive count\n", option.c_str());
                return 2;
            }
            (option == "--rounds" ? rounds : option == "--files" ? files : rows) = number;
        } else {
            std::fprintf(stderr, "syscall_boundary: unknown option %s\n", option.c_str());
            return 2;
        }
    }
    std::string work = dir + "/vmemu-syscall-boundary-" + std::to_string(getpid());
    if (mkdir(work.c_str(), 0700) != 0 || !make_files(work + "/tree", files) || !make_sql(work + "/load.sql", rows)) {
        std::fprintf(stderr, "syscall_boundary: cannot prepare %s\n", work.c_str());
        return 2;
    }
    std::string database = work + "/small_pages.db";
    std::string stats = work + "/stats";
    struct Workload {
        std::string name;
        std::vector<std::string> command;
        std::string cleanup; // a file each run starts without
    };
    std::vector<Workload> workloads {
        { "tar", { "tar", "-cf", "-", "-C", work + "/tree", "." }, "" },
        { "sqlite", { "sqlite3", database, ".read " + work + "/load.sql" }, database },
    };
    std::printf("%-8s %10s %12s %12s %10s %10s %10s %14s\n", "workload", "native s", "guard off s", "guard on s",
        "off/nat", "on/nat", "on/off", "diverted/run");
    bool all_same = true;
    for (const Workload& workload : workloads) {
        std::vector<double> native, off, on;
        long long diverted = -1;
        std::string reference;
        bool same = true;
        for (int round = 0; round < rounds; ++round) {
            for (int mode = 0; mode < 3; ++mode) {
                if (!workload.cleanup.empty())
                    std::remove(workload.cleanup.c_str());
                std::vector<std::string> command = workload.command;
                if (mode > 0) {
                    std::vector<std::string> prefix { vmemu, "run", "--syscall-guard", mode == 1 ? "off" : "on",
                        "--stats", stats, "--" };
                    command.insert(command.begin(), prefix.begin(), prefix.end());
                }
                Run result = run(command);
                if (round == 0 && mode == 0)
                    reference = result.output;
                if (result.status != 0 || result.output != reference) {
                    std::printf("%s: status %d, %zu bytes of output against %zu natively\n", workload.name.c_str(),
                        result.status, result.output.size(), reference.size());
                    same = false;
                }
                (mode == 0 ? native : mode == 1 ? off : on).push_back(result.seconds);
                if (mode == 2)
                    diverted = stat_counter(stats, "syscall_diverted");
            }
        }
        all_same &= same;
        double n = median(native), f = median(off), o = median(on);
        std::printf("%-8s %10.3f %12.3f %12.3f %10.2f %10.2f %10.2f %14lld%s\n", workload.name.c_str(), n, f, o, f / n,
            o / n, o / f, diverted, same ? "" : "  OUTPUT DIFFERS");
        std::fflush(stdout);
    }
    std::string remove = "rm -rf '" + work + "'";
    if (std::system(remove.c_str()) != 0)
        std::fprintf(stderr, "syscall_boundary: cannot remove %s\n", work.c_str());
    std::printf("\ntarget: guard on <= 1.2 x native (medians of %d alternating rounds)\n", rounds);
    return all_same ? 0 : 1;
}
