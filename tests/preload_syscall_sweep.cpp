// The system-call table, swept: calls that a test can make without privileges or lasting side
// effects, each through syscall() with every structure it is given straddling a page boundary
// in the heap, both pages swapped out just before. A size too small in the table leaves the
// second page unpinned, and the call fails with EFAULT under vmemu where it succeeds natively.
// Each call prints its name and its result (or -errno); run_preloaded.sh compares the two runs.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <csignal>
#include <ctime>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <functional>
#include <string>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace {

constexpr std::size_t kEvictBytes = std::size_t { 16 } << 20;
char* g_evict;

void evict()
{
    static unsigned char round;
    ++round;
    for (std::size_t i = 0; i < kEvictBytes; i += 4096)
        g_evict[i] = static_cast<char>(round);
}

// A heap block of three pages, filled, whose pointer lies `before` bytes ahead of the boundary
// between its first two pages: a structure of more than `before` bytes crosses it.
long straddling(std::vector<void*>& blocks, std::size_t before = 8)
{
    auto* block = static_cast<char*>(std::aligned_alloc(4096, 3 * 4096));
    std::memset(block, 0x11, 3 * 4096);
    blocks.push_back(block);
    return reinterpret_cast<long>(block + 4096 - before);
}

// A string in the heap, across a page boundary.
long heap_string(std::vector<void*>& blocks, const char* text)
{
    auto* block = static_cast<char*>(std::aligned_alloc(4096, 3 * 4096));
    std::memset(block, 0, 3 * 4096);
    char* at = block + 4096 - 3;
    std::strcpy(at, text);
    blocks.push_back(block);
    return reinterpret_cast<long>(at);
}

using Arguments = std::vector<long>;

// A call: its arguments, built in the heap; what to make of its result (and to undo after it).
struct Case {
    const char* name;
    long nr;
    std::function<Arguments(std::vector<void*>&)> build;
    std::function<long(long, const Arguments&)> after = [](long result, const Arguments&) { return result; };
};

long result_of(long value) { return value < 0 ? -errno : value; }

} // namespace

int main(int argc, char** argv)
{
    std::string prefix = argc > 1 ? argv[1] : "/tmp/preload_syscall_sweep";
    std::string file = prefix + ".file";
    close(open(file.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600));
    int fd = open(file.c_str(), O_RDONLY);
    g_evict = static_cast<char*>(std::malloc(kEvictBytes));
    std::memset(g_evict, 1, kEvictBytes);
    const char* path = file.c_str();
    std::fflush(stdout);
    auto nonnegative = [](long result, const Arguments&) { return result >= 0 ? 0L : result; };
    auto close_pair = [](long result, const Arguments& a) {
        if (result == 0) {
            auto* fds = reinterpret_cast<int*>(a[3]); // socketpair's fourth argument
            close(fds[0]);
            close(fds[1]);
        }
        return result;
    };
    auto timespec_of = [](std::vector<void*>& b) {
        auto* request = reinterpret_cast<long*>(straddling(b));
        request[0] = 0;
        request[1] = 1000;
        return reinterpret_cast<long>(request);
    };
    std::vector<Case> cases {
        { "uname", SYS_uname, [](auto& b) { return Arguments { straddling(b) }; } },
        { "sysinfo", SYS_sysinfo, [](auto& b) { return Arguments { straddling(b) }; } },
        { "times", SYS_times, [](auto& b) { return Arguments { straddling(b) }; }, nonnegative },
        { "getrusage", SYS_getrusage, [](auto& b) { return Arguments { 0, straddling(b) }; } },
        { "getrlimit", SYS_getrlimit, [](auto& b) { return Arguments { RLIMIT_NOFILE, straddling(b) }; } },
        { "prlimit64", SYS_prlimit64, [](auto& b) { return Arguments { 0, RLIMIT_NOFILE, 0, straddling(b) }; } },
        { "getitimer", SYS_getitimer, [](auto& b) { return Arguments { 0, straddling(b) }; } },
        { "clock_gettime", SYS_clock_gettime, [](auto& b) { return Arguments { CLOCK_MONOTONIC, straddling(b) }; } },
        { "clock_getres", SYS_clock_getres, [](auto& b) { return Arguments { CLOCK_MONOTONIC, straddling(b) }; } },
        { "gettimeofday", SYS_gettimeofday, [](auto& b) { return Arguments { straddling(b), straddling(b, 4) }; } },
        { "time", SYS_time, [](auto& b) { return Arguments { straddling(b, 4) }; }, nonnegative },
        { "sched_getaffinity", SYS_sched_getaffinity, [](auto& b) { return Arguments { 0, 128, straddling(b) }; },
            nonnegative },
        { "sched_getparam", SYS_sched_getparam, [](auto& b) { return Arguments { 0, straddling(b, 2) }; } },
        { "sched_rr_get_interval", SYS_sched_rr_get_interval, [](auto& b) { return Arguments { 0, straddling(b) }; } },
        { "getresuid", SYS_getresuid,
            [](auto& b) { return Arguments { straddling(b, 2), straddling(b, 2), straddling(b, 2) }; } },
        { "getresgid", SYS_getresgid,
            [](auto& b) { return Arguments { straddling(b, 2), straddling(b, 2), straddling(b, 2) }; } },
        { "getgroups", SYS_getgroups, [](auto& b) { return Arguments { 64, straddling(b) }; }, nonnegative },
        { "capget", SYS_capget,
            [](auto& b) {
                auto* header = reinterpret_cast<std::uint32_t*>(straddling(b, 4));
                header[0] = 0x20080522; // _LINUX_CAPABILITY_VERSION_3
                header[1] = 0;
                return Arguments { reinterpret_cast<long>(header), straddling(b) };
            } },
        { "get_robust_list", SYS_get_robust_list, [](auto& b) { return Arguments { 0, straddling(b, 4), straddling(b, 4) }; } },
        { "getcpu", SYS_getcpu, [](auto& b) { return Arguments { straddling(b, 2), straddling(b, 2), 0 }; } },
        { "rt_sigpending", SYS_rt_sigpending, [](auto& b) { return Arguments { straddling(b, 4), 8 }; } },
        { "pipe2", SYS_pipe2, [](auto& b) { return Arguments { straddling(b, 4), 0 }; },
            [](long result, const Arguments& a) {
                if (result == 0) {
                    auto* fds = reinterpret_cast<int*>(a[0]);
                    close(fds[0]);
                    close(fds[1]);
                }
                return result;
            } },
        { "socketpair", SYS_socketpair, [](auto& b) { return Arguments { AF_UNIX, SOCK_STREAM, 0, straddling(b, 4) }; },
            close_pair },
        { "stat", SYS_stat, [path](auto& b) { return Arguments { heap_string(b, path), straddling(b) }; } },
        { "lstat", SYS_lstat, [path](auto& b) { return Arguments { heap_string(b, path), straddling(b) }; } },
        { "fstat", SYS_fstat, [fd](auto& b) { return Arguments { fd, straddling(b) }; } },
        { "newfstatat", SYS_newfstatat,
            [path](auto& b) { return Arguments { AT_FDCWD, heap_string(b, path), straddling(b), 0 }; } },
        { "statx", SYS_statx,
            [path](auto& b) { return Arguments { AT_FDCWD, heap_string(b, path), 0, 0x7ff, straddling(b) }; } },
        { "statfs", SYS_statfs, [path](auto& b) { return Arguments { heap_string(b, path), straddling(b) }; } },
        { "fstatfs", SYS_fstatfs, [fd](auto& b) { return Arguments { fd, straddling(b) }; } },
        { "access", SYS_access, [path](auto& b) { return Arguments { heap_string(b, path), R_OK }; } },
        { "faccessat2", SYS_faccessat2, [path](auto& b) { return Arguments { AT_FDCWD, heap_string(b, path), R_OK, 0 }; } },
        { "readlink", SYS_readlink, [](auto& b) { return Arguments { heap_string(b, "/proc/self/cwd"), straddling(b), 4096 }; },
            nonnegative },
        { "getcwd", SYS_getcwd, [](auto& b) { return Arguments { straddling(b), 4096 }; }, nonnegative },
        { "getxattr", SYS_getxattr,
            [path](auto& b) { return Arguments { heap_string(b, path), heap_string(b, "user.none"), straddling(b), 64 }; } },
        { "listxattr", SYS_listxattr, [path](auto& b) { return Arguments { heap_string(b, path), straddling(b), 256 }; } },
        { "utimensat", SYS_utimensat,
            [path](auto& b) {
                auto* times = reinterpret_cast<long*>(straddling(b));
                times[0] = 0;
                times[1] = (1L << 30) - 2; // UTIME_OMIT
                times[2] = 0;
                times[3] = (1L << 30) - 2;
                return Arguments { AT_FDCWD, heap_string(b, path), reinterpret_cast<long>(times), 0 };
            } },
        { "nanosleep", SYS_nanosleep, [&](auto& b) { return Arguments { timespec_of(b), straddling(b) }; } },
        { "clock_nanosleep", SYS_clock_nanosleep,
            [&](auto& b) { return Arguments { CLOCK_MONOTONIC, 0, timespec_of(b), straddling(b) }; } },
        { "getrandom", SYS_getrandom, [](auto& b) { return Arguments { straddling(b), 64, 0 }; } },
        { "pread64", SYS_pread64, [fd](auto& b) { return Arguments { fd, straddling(b), 100, 0 }; } },
        { "sigaltstack", SYS_sigaltstack, [](auto& b) { return Arguments { 0, straddling(b) }; } },
        { "rt_sigprocmask", SYS_rt_sigprocmask, [](auto& b) { return Arguments { SIG_BLOCK, 0, straddling(b, 4), 8 }; } },
        { "rt_sigaction", SYS_rt_sigaction, [](auto& b) { return Arguments { SIGUSR2, 0, straddling(b), 8 }; } },
        { "timer_create", SYS_timer_create, [](auto& b) { return Arguments { CLOCK_MONOTONIC, 0, straddling(b, 2) }; },
            [](long result, const Arguments& a) {
                if (result == 0)
                    syscall(SYS_timer_delete, *reinterpret_cast<int*>(a[2]));
                return result;
            } },
        { "wait4", SYS_wait4,
            [](auto& b) {
                pid_t child = fork();
                if (child == 0)
                    _exit(5);
                return Arguments { child, straddling(b, 2), 0, straddling(b) };
            },
            [](long result, const Arguments& a) { return result == a[0] ? *reinterpret_cast<int*>(a[1]) >> 8 : result; } },
        { "waitid", SYS_waitid,
            [](auto& b) {
                pid_t child = fork();
                if (child == 0)
                    _exit(6);
                return Arguments { 1 /* P_PID */, child, straddling(b), 4 /* WEXITED */, straddling(b) };
            } },
    };
    for (const Case& c : cases) {
        std::vector<void*> blocks;
        Arguments a = c.build(blocks);
        a.resize(6, 0);
        evict();
        long result = result_of(syscall(c.nr, a[0], a[1], a[2], a[3], a[4], a[5]));
        std::printf("%-22s %ld\n", c.name, c.after(result, a));
        for (void* block : blocks)
            std::free(block);
    }
    unlink(file.c_str());
    return 0;
}
