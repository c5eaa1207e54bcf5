// The system-call table, swept: calls that a test can make without privileges or lasting side
// effects, each through syscall() with every structure it is given straddling a page boundary
// in the heap, both pages swapped out just before. A size too small in the table leaves the
// second page unpinned, and the call fails with EFAULT under vmemu where it succeeds natively.
// Each call prints its name, its result (or -errno) and, where the kernel wrote bytes that are
// the same from run to run, their checksum; run_preloaded.sh compares the two runs.
// The families: process and time queries, paths, file data, polling and events, signals,
// futexes, sockets, System V and POSIX IPC, privileged calls made to fail harmlessly, and the
// calls whose structures point to more memory (keys, landlock, a seccomp filter).
#include <cerrno>
#include <cstddef>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <functional>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/random.h>
#include <linux/seccomp.h>
#include <mqueue.h>
#include <poll.h>
#include <sched.h>
#include <string>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <termios.h>
#include <unistd.h>
#include <vector>
#include "evict_support.hpp"

#ifndef SYS_futex_wake
#define SYS_futex_wake 454
#define SYS_futex_wait 455
#define SYS_futex_requeue 456
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif
#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#define FUTEX2_PRIVATE 128
#endif

namespace {

using vmemu::test::checksum;

// The heap blocks one call's structures live in, freed after it.
class Blocks {
public:
    Blocks() = default;
    Blocks(const Blocks&) = delete;
    Blocks& operator=(const Blocks&) = delete;
    ~Blocks()
    {
        for (void* block : m_blocks)
            std::free(block);
    }

    // A pointer `before` bytes ahead of the boundary between the first two pages of a new
    // block of three pages, filled with 0x11: a structure of more than `before` bytes crosses it.
    template<typename T = char>
    T* straddling(std::size_t before = 8)
    {
        auto* block = static_cast<char*>(std::aligned_alloc(4096, 3 * 4096));
        std::memset(block, 0x11, 3 * 4096);
        m_blocks.push_back(block);
        return reinterpret_cast<T*>(block + 4096 - before);
    }
    // A zeroed structure of type T across a boundary.
    template<typename T>
    T* zeroed(std::size_t before = 8)
    {
        T* at = straddling<T>(before);
        std::memset(static_cast<void*>(at), 0, sizeof(T));
        return at;
    }
    // A string across a boundary.
    const char* string(const std::string& text)
    {
        char* at = straddling(3);
        std::memcpy(at, text.c_str(), text.size() + 1);
        return at;
    }

private:
    std::vector<void*> m_blocks;
};

using Arguments = std::vector<long>;

long address(const void* pointer) { return reinterpret_cast<long>(pointer); }

// What a call prints: its result, normalised where it differs from run to run (a file
// descriptor, a pid), and a checksum of bytes it wrote, or 0.
struct Outcome {
    long result;
    std::uint64_t bytes { 0 };
};

// A call: its arguments, built in the heap; what to make of its result (and to undo after it).
struct Case {
    const char* name;
    long nr;
    std::function<Arguments(Blocks&)> build;
    std::function<Outcome(long, const Arguments&)> after = [](long result, const Arguments&) { return Outcome { result }; };
};

long result_of(long value) { return value < 0 ? -errno : value; }

volatile sig_atomic_t g_usr2_handled = 0;
void on_usr2(int) { g_usr2_handled = g_usr2_handled + 1; }

// A result that is a new file descriptor (or a key serial, a timer): 0, closed.
Outcome closed(long result, const Arguments&)
{
    if (result < 0)
        return { result };
    close(static_cast<int>(result));
    return { 0 };
}
Outcome nonnegative(long result, const Arguments&) { return { result >= 0 ? 0 : result }; }
// The result and the `bytes` bytes at argument `index`.
std::function<Outcome(long, const Arguments&)> with_bytes(int index, std::size_t bytes)
{
    return [index, bytes](long result, const Arguments& a) {
        return Outcome { result, checksum(reinterpret_cast<const void*>(a[index]), bytes) };
    };
}

// A result that is success with two new descriptors at argument `index`: both closed.
std::function<Outcome(long, const Arguments&)> closed_pair(int index)
{
    return [index](long result, const Arguments& a) {
        if (result == 0) {
            const int* fds = reinterpret_cast<const int*>(a[index]);
            close(fds[0]);
            close(fds[1]);
        }
        return Outcome { result };
    };
}

// The bytes of a directory read to its end: a pending signal (vmemu's I/O completions among
// them) may make one call short, as it may natively.
std::function<Outcome(long, const Arguments&)> to_the_end(int directory, long nr)
{
    return [directory, nr](long result, const Arguments& a) {
        for (long more = result; more > 0; result += more)
            more = syscall(nr, directory, a[1], 4096);
        return Outcome { result };
    };
}

// The descriptors and names the calls share, made natively before the sweep. Whatever a call
// waits for is non-blocking, so that a call before it that failed cannot hang the sweep.
struct Context {
    std::string dir;
    std::string data;
    int file { -1 };     // dir/data, read and written
    int copy { -1 };     // dir/copy, written
    int directory { -1 };
    int pipe[2] { -1, -1 };
    int datagram[2] { -1, -1 };
    int listener { -1 };
    int connected { -1 };
    int unbound { -1 };
    sockaddr_un listener_name {};
    socklen_t listener_length { 0 };
    int epoll { -1 };
    int event { -1 };
    int timer_fd { -1 };
    int inotify { -1 };
    int urandom { -1 };
    int pidfd { -1 };
    timer_t timer {};
    int message_queue { -1 };
    int semaphores { -1 };
    int shared_memory { -1 };
    std::string mq_name;
    int mq { -1 };
    long key { -1 };

    std::string at(const char* name) const { return dir + "/" + name; }
};

// iovecs across a boundary naming count buffers across boundaries, each of `length` bytes.
iovec* iovecs(Blocks& b, int count, std::size_t length)
{
    auto* vectors = b.straddling<iovec>(8);
    for (int i = 0; i < count; ++i)
        vectors[i] = { b.straddling(16), length };
    return vectors;
}

std::uint64_t iovec_checksum(const iovec* vectors, int count)
{
    std::uint64_t sum = 0;
    for (int i = 0; i < count; ++i)
        sum = sum * 31 + checksum(vectors[i].iov_base, vectors[i].iov_len);
    return sum;
}

timespec* zero_timeout(Blocks& b) { return b.zeroed<timespec>(); }

// A classic BPF program of one instruction that returns `value` (accepts every packet, allows
// every call), its sock_fprog and its instruction each across a boundary.
long filter(Blocks& b, std::uint32_t value)
{
    auto* instruction = b.straddling<sock_filter>(4);
    *instruction = BPF_STMT(BPF_RET | BPF_K, value);
    auto* program = b.zeroed<sock_fprog>();
    program->len = 1;
    program->filter = instruction;
    return address(program);
}

// process_vm_readv or process_vm_writev on the process itself: 64 bytes from the vector the
// call reads to the one it writes (local for readv, remote for writev).
Case process_vm_case(const char* name, long nr)
{
    int written = nr == SYS_process_vm_readv ? 1 : 3;
    return { name, nr,
        [written](Blocks& b) {
            iovec* local = iovecs(b, 1, 64);
            iovec* remote = iovecs(b, 1, 64);
            std::memset((written == 1 ? remote : local)[0].iov_base, 0x5a + written, 64);
            return Arguments { getpid(), address(local), 1, address(remote), 1, 0 };
        },
        [written](long result, const Arguments& a) {
            return Outcome { result, iovec_checksum(reinterpret_cast<iovec*>(a[written]), 1) };
        } };
}

std::vector<Case> process_cases()
{
    auto timespec_of = [](Blocks& b) {
        auto* request = b.zeroed<timespec>();
        request->tv_nsec = 1000;
        return address(request);
    };
    return {
        { "uname", SYS_uname, [](Blocks& b) { return Arguments { address(b.straddling()) }; }, with_bytes(0, 65) },
        { "sysinfo", SYS_sysinfo, [](Blocks& b) { return Arguments { address(b.straddling()) }; } },
        { "times", SYS_times, [](Blocks& b) { return Arguments { address(b.straddling()) }; }, nonnegative },
        { "getrusage", SYS_getrusage, [](Blocks& b) { return Arguments { 0, address(b.straddling()) }; } },
        { "getrlimit", SYS_getrlimit, [](Blocks& b) { return Arguments { RLIMIT_NOFILE, address(b.straddling()) }; } },
        { "prlimit64", SYS_prlimit64, [](Blocks& b) { return Arguments { 0, RLIMIT_NOFILE, 0, address(b.straddling()) }; } },
        { "prlimit64 set", SYS_prlimit64,
            [](Blocks& b) {
                auto* limit = b.zeroed<rlimit>();
                getrlimit(RLIMIT_CORE, limit);
                return Arguments { 0, RLIMIT_CORE, address(limit), address(b.straddling()) };
            } },
        { "setrlimit", SYS_setrlimit,
            [](Blocks& b) {
                auto* limit = b.zeroed<rlimit>();
                getrlimit(RLIMIT_CORE, limit);
                return Arguments { RLIMIT_CORE, address(limit) };
            } },
        { "getitimer", SYS_getitimer, [](Blocks& b) { return Arguments { 0, address(b.straddling()) }; } },
        { "setitimer", SYS_setitimer,
            [](Blocks& b) { return Arguments { ITIMER_REAL, address(b.zeroed<itimerval>()), address(b.straddling()) }; },
            with_bytes(2, sizeof(itimerval)) },
        { "clock_gettime", SYS_clock_gettime, [](Blocks& b) { return Arguments { CLOCK_MONOTONIC, address(b.straddling()) }; } },
        { "clock_getres", SYS_clock_getres, [](Blocks& b) { return Arguments { CLOCK_MONOTONIC, address(b.straddling()) }; },
            with_bytes(1, sizeof(timespec)) },
        { "gettimeofday", SYS_gettimeofday,
            [](Blocks& b) { return Arguments { address(b.straddling()), address(b.straddling(4)) }; } },
        { "time", SYS_time, [](Blocks& b) { return Arguments { address(b.straddling(4)) }; }, nonnegative },
        { "adjtimex", SYS_adjtimex, [](Blocks& b) { return Arguments { address(b.zeroed<timex>()) }; } },
        { "clock_adjtime", SYS_clock_adjtime,
            [](Blocks& b) { return Arguments { CLOCK_REALTIME, address(b.zeroed<timex>()) }; } },
        { "nanosleep", SYS_nanosleep, [=](Blocks& b) { return Arguments { timespec_of(b), address(b.straddling()) }; } },
        { "clock_nanosleep", SYS_clock_nanosleep,
            [=](Blocks& b) { return Arguments { CLOCK_MONOTONIC, 0, timespec_of(b), address(b.straddling()) }; } },
        { "sched_getaffinity", SYS_sched_getaffinity, [](Blocks& b) { return Arguments { 0, 128, address(b.straddling()) }; },
            nonnegative },
        { "sched_setaffinity", SYS_sched_setaffinity,
            [](Blocks& b) {
                auto* mask = b.straddling<cpu_set_t>(8);
                sched_getaffinity(0, sizeof(cpu_set_t), mask);
                return Arguments { 0, sizeof(cpu_set_t), address(mask) };
            } },
        { "sched_getparam", SYS_sched_getparam, [](Blocks& b) { return Arguments { 0, address(b.straddling(2)) }; },
            with_bytes(1, sizeof(int)) },
        { "sched_setparam", SYS_sched_setparam, [](Blocks& b) { return Arguments { 0, address(b.zeroed<sched_param>(2)) }; } },
        { "sched_setscheduler", SYS_sched_setscheduler,
            [](Blocks& b) { return Arguments { 0, SCHED_OTHER, address(b.zeroed<sched_param>(2)) }; } },
        { "sched_getattr", SYS_sched_getattr, [](Blocks& b) { return Arguments { 0, address(b.straddling()), 56, 0 }; } },
        { "sched_setattr", SYS_sched_setattr,
            [](Blocks& b) {
                auto* attributes = b.straddling<std::uint32_t>(8);
                syscall(SYS_sched_getattr, 0, attributes, 56, 0);
                return Arguments { 0, address(attributes), 0 };
            } },
        { "sched_rr_get_interval", SYS_sched_rr_get_interval, [](Blocks& b) { return Arguments { 0, address(b.straddling()) }; } },
        { "getresuid", SYS_getresuid,
            [](Blocks& b) { return Arguments { address(b.straddling(2)), address(b.straddling(2)), address(b.straddling(2)) }; } },
        { "getresgid", SYS_getresgid,
            [](Blocks& b) { return Arguments { address(b.straddling(2)), address(b.straddling(2)), address(b.straddling(2)) }; } },
        { "getgroups", SYS_getgroups, [](Blocks& b) { return Arguments { 64, address(b.straddling()) }; }, nonnegative },
        { "capget", SYS_capget,
            [](Blocks& b) {
                auto* header = b.straddling<std::uint32_t>(4);
                header[0] = 0x20080522; // _LINUX_CAPABILITY_VERSION_3
                header[1] = 0;
                return Arguments { address(header), address(b.straddling()) };
            } },
        { "get_robust_list", SYS_get_robust_list,
            [](Blocks& b) { return Arguments { 0, address(b.straddling(4)), address(b.straddling(4)) }; } },
        { "getcpu", SYS_getcpu, [](Blocks& b) { return Arguments { address(b.straddling(2)), address(b.straddling(2)), 0 }; } },
        { "get_mempolicy", SYS_get_mempolicy,
            [](Blocks& b) { return Arguments { address(b.straddling(2)), address(b.straddling(4)), 64, 0, 0 }; },
            with_bytes(0, sizeof(int)) },
        { "set_mempolicy", SYS_set_mempolicy,
            [](Blocks& b) {
                auto* nodes = b.straddling<unsigned long>(4);
                *nodes = 1;
                return Arguments { 1 /* MPOL_PREFERRED */, address(nodes), 64 };
            },
            [](long result, const Arguments&) {
                syscall(SYS_set_mempolicy, 0 /* MPOL_DEFAULT */, 0, 0);
                return Outcome { result };
            } },
        { "mbind", SYS_mbind,
            [](Blocks& b) {
                auto* nodes = b.straddling<unsigned long>(4);
                *nodes = 1;
                return Arguments { address(b.straddling(4096)), 4096, 1 /* MPOL_PREFERRED */, address(nodes), 64, 0 };
            } },
        { "move_pages", SYS_move_pages,
            [](Blocks& b) {
                auto* pages = b.straddling<void*>(4);
                pages[0] = b.straddling(4096);
                return Arguments { 0, 1, address(pages), 0, address(b.straddling(2)), 0 };
            } },
        { "process_madvise", SYS_process_madvise,
            [](Blocks& b) {
                auto* vector = b.straddling<iovec>(8);
                vector[0] = { b.straddling(4096), 4096 };
                return Arguments { syscall(SYS_pidfd_open, getpid(), 0), address(vector), 1, MADV_WILLNEED, 0 };
            },
            [](long result, const Arguments& a) {
                close(static_cast<int>(a[0]));
                return Outcome { result };
            } },
        { "perf_event_open", SYS_perf_event_open,
            [](Blocks& b) {
                auto* attributes = b.straddling<std::uint32_t>(8);
                std::memset(attributes, 0, 128);
                attributes[0] = 1; // PERF_TYPE_SOFTWARE
                attributes[1] = 128;
                return Arguments { address(attributes), 0, -1, -1, 0 };
            },
            closed },
        { "capset", SYS_capset,
            [](Blocks& b) {
                auto* header = b.straddling<std::uint32_t>(4);
                header[0] = 0x20080522;
                header[1] = 0;
                auto* data = b.straddling<std::uint32_t>(8);
                syscall(SYS_capget, header, data);
                return Arguments { address(header), address(data) };
            } },
        { "setgroups", SYS_setgroups,
            [](Blocks& b) {
                auto* groups = b.straddling<gid_t>(2);
                int count = getgroups(64, groups);
                return Arguments { count, address(groups) };
            } },
        { "sethostname", SYS_sethostname,
            [](Blocks& b) {
                // The name it has: as root a change to nothing, else EPERM.
                utsname names;
                uname(&names);
                return Arguments { address(b.string(names.nodename)), static_cast<long>(std::strlen(names.nodename)) };
            } },
        { "setdomainname", SYS_setdomainname,
            [](Blocks& b) {
                utsname names;
                uname(&names);
                return Arguments { address(b.string(names.domainname)), static_cast<long>(std::strlen(names.domainname)) };
            } },
        { "syslog", SYS_syslog, [](Blocks& b) { return Arguments { 3 /* SYSLOG_ACTION_READ_ALL */, address(b.straddling()), 16 }; } },
        { "prctl PR_GET_NAME", SYS_prctl, [](Blocks& b) { return Arguments { PR_GET_NAME, address(b.straddling()) }; },
            with_bytes(1, 16) },
        { "arch_prctl", SYS_arch_prctl, [](Blocks& b) { return Arguments { 0x1003 /* ARCH_GET_FS */, address(b.straddling(4)) }; } },
        { "getrandom", SYS_getrandom, [](Blocks& b) { return Arguments { address(b.straddling()), 64, 0 }; } },
        process_vm_case("process_vm_readv", SYS_process_vm_readv),
        process_vm_case("process_vm_writev", SYS_process_vm_writev),
        { "wait4", SYS_wait4,
            [](Blocks& b) {
                pid_t child = fork();
                if (child == 0)
                    _exit(5);
                return Arguments { child, address(b.straddling(2)), 0, address(b.straddling()) };
            },
            [](long result, const Arguments& a) {
                return Outcome { result == a[0] ? *reinterpret_cast<int*>(a[1]) >> 8 : result };
            } },
        { "waitid", SYS_waitid,
            [](Blocks& b) {
                pid_t child = fork();
                if (child == 0)
                    _exit(6);
                return Arguments { P_PID, child, address(b.straddling()), WEXITED, address(b.straddling()) };
            } },
    };
}

std::vector<Case> path_cases(Context& c)
{
    auto path = [&c](Blocks& b, const char* name) { return address(b.string(c.at(name))); };
    auto data = [&c](Blocks& b) { return address(b.string(c.data)); };
    auto two_times = [](Blocks& b) {
        auto* times = b.straddling<timeval>(8);
        times[0] = { 1000, 0 };
        times[1] = { 2000, 0 };
        return address(times);
    };
    return {
        { "stat", SYS_stat, [=](Blocks& b) { return Arguments { data(b), address(b.straddling()) }; } },
        { "lstat", SYS_lstat, [=](Blocks& b) { return Arguments { data(b), address(b.straddling()) }; } },
        { "fstat", SYS_fstat, [&c](Blocks& b) { return Arguments { c.file, address(b.straddling()) }; } },
        { "newfstatat", SYS_newfstatat, [=](Blocks& b) { return Arguments { AT_FDCWD, data(b), address(b.straddling()), 0 }; } },
        { "statx", SYS_statx, [=](Blocks& b) { return Arguments { AT_FDCWD, data(b), 0, 0x7ff, address(b.straddling()) }; } },
        { "statfs", SYS_statfs, [=](Blocks& b) { return Arguments { data(b), address(b.straddling()) }; } },
        { "fstatfs", SYS_fstatfs, [&c](Blocks& b) { return Arguments { c.file, address(b.straddling()) }; } },
        { "access", SYS_access, [=](Blocks& b) { return Arguments { data(b), R_OK }; } },
        { "faccessat", SYS_faccessat, [=](Blocks& b) { return Arguments { AT_FDCWD, data(b), R_OK }; } },
        { "faccessat2", SYS_faccessat2, [=](Blocks& b) { return Arguments { AT_FDCWD, data(b), R_OK, 0 }; } },
        { "open", SYS_open, [=](Blocks& b) { return Arguments { data(b), O_RDONLY }; }, closed },
        { "openat", SYS_openat, [=](Blocks& b) { return Arguments { AT_FDCWD, data(b), O_RDONLY }; }, closed },
        { "openat2", SYS_openat2,
            [=](Blocks& b) {
                auto* how = b.straddling<std::uint64_t>(8);
                how[0] = O_RDONLY;
                how[1] = 0;
                how[2] = 0;
                return Arguments { AT_FDCWD, data(b), address(how), 24 };
            },
            closed },
        { "creat", SYS_creat, [=](Blocks& b) { return Arguments { path(b, "created"), 0600 }; }, closed },
        { "mkdir", SYS_mkdir, [=](Blocks& b) { return Arguments { path(b, "sub"), 0700 }; } },
        { "mkdirat", SYS_mkdirat, [=](Blocks& b) { return Arguments { AT_FDCWD, path(b, "sub2"), 0700 }; } },
        { "rmdir", SYS_rmdir, [=](Blocks& b) { return Arguments { path(b, "sub") }; } },
        { "unlinkat dir", SYS_unlinkat, [=](Blocks& b) { return Arguments { AT_FDCWD, path(b, "sub2"), AT_REMOVEDIR }; } },
        { "link", SYS_link, [=](Blocks& b) { return Arguments { data(b), path(b, "link1") }; } },
        { "linkat", SYS_linkat, [=](Blocks& b) { return Arguments { AT_FDCWD, data(b), AT_FDCWD, path(b, "link2"), 0 }; } },
        { "rename", SYS_rename, [=](Blocks& b) { return Arguments { path(b, "link2"), path(b, "link3") }; } },
        { "renameat", SYS_renameat,
            [=](Blocks& b) { return Arguments { AT_FDCWD, path(b, "link3"), AT_FDCWD, path(b, "link4") }; } },
        { "renameat2", SYS_renameat2,
            [=](Blocks& b) { return Arguments { AT_FDCWD, path(b, "link4"), AT_FDCWD, path(b, "link5"), RENAME_NOREPLACE }; } },
        { "unlink", SYS_unlink, [=](Blocks& b) { return Arguments { path(b, "link1") }; } },
        { "unlinkat", SYS_unlinkat, [=](Blocks& b) { return Arguments { AT_FDCWD, path(b, "link5"), 0 }; } },
        { "symlink", SYS_symlink, [=](Blocks& b) { return Arguments { address(b.string("data")), path(b, "sym") }; } },
        { "symlinkat", SYS_symlinkat,
            [=](Blocks& b) { return Arguments { address(b.string("data")), AT_FDCWD, path(b, "sym2") }; } },
        { "readlink", SYS_readlink, [=](Blocks& b) { return Arguments { path(b, "sym"), address(b.straddling()), 64 }; },
            with_bytes(1, 4) },
        { "readlinkat", SYS_readlinkat,
            [=](Blocks& b) { return Arguments { AT_FDCWD, path(b, "sym2"), address(b.straddling()), 64 }; }, with_bytes(2, 4) },
        { "getcwd", SYS_getcwd, [](Blocks& b) { return Arguments { address(b.straddling()), 4096 }; }, nonnegative },
        { "chdir", SYS_chdir, [](Blocks& b) { return Arguments { address(b.string(".")) }; } },
        { "chmod", SYS_chmod, [=](Blocks& b) { return Arguments { data(b), 0640 }; } },
        { "fchmodat", SYS_fchmodat, [=](Blocks& b) { return Arguments { AT_FDCWD, data(b), 0600 }; } },
        { "fchmodat2", SYS_fchmodat2, [=](Blocks& b) { return Arguments { AT_FDCWD, data(b), 0600, 0 }; } },
        { "chown", SYS_chown, [=](Blocks& b) { return Arguments { data(b), -1, -1 }; } },
        { "lchown", SYS_lchown, [=](Blocks& b) { return Arguments { path(b, "sym"), -1, -1 }; } },
        { "fchownat", SYS_fchownat, [=](Blocks& b) { return Arguments { AT_FDCWD, data(b), -1, -1, 0 }; } },
        { "mknod", SYS_mknod, [=](Blocks& b) { return Arguments { path(b, "fifo"), S_IFIFO | 0600, 0 }; } },
        { "mknodat", SYS_mknodat, [=](Blocks& b) { return Arguments { AT_FDCWD, path(b, "fifo2"), S_IFIFO | 0600, 0 }; } },
        { "truncate", SYS_truncate, [=](Blocks& b) { return Arguments { path(b, "created"), 10 }; } },
        { "utime", SYS_utime,
            [=](Blocks& b) {
                auto* times = b.straddling<long>(8);
                times[0] = 1000;
                times[1] = 2000;
                return Arguments { data(b), address(times) };
            } },
        { "utimes", SYS_utimes, [=](Blocks& b) { return Arguments { data(b), two_times(b) }; } },
        { "futimesat", SYS_futimesat, [=](Blocks& b) { return Arguments { AT_FDCWD, data(b), two_times(b) }; } },
        { "utimensat", SYS_utimensat,
            [=](Blocks& b) {
                auto* times = b.straddling<timespec>(8);
                times[0] = { 0, UTIME_OMIT };
                times[1] = { 0, UTIME_OMIT };
                return Arguments { AT_FDCWD, data(b), address(times), 0 };
            } },
        { "setxattr", SYS_setxattr,
            [=](Blocks& b) { return Arguments { data(b), address(b.string("user.sweep")), address(b.straddling()), 16, 0 }; } },
        { "lsetxattr", SYS_lsetxattr,
            [=](Blocks& b) { return Arguments { data(b), address(b.string("user.sweep2")), address(b.straddling()), 16, 0 }; } },
        { "fsetxattr", SYS_fsetxattr,
            [&c](Blocks& b) { return Arguments { c.file, address(b.string("user.sweep3")), address(b.straddling()), 16, 0 }; } },
        { "getxattr", SYS_getxattr,
            [=](Blocks& b) { return Arguments { data(b), address(b.string("user.sweep")), address(b.straddling()), 64 }; },
            with_bytes(2, 16) },
        { "lgetxattr", SYS_lgetxattr,
            [=](Blocks& b) { return Arguments { data(b), address(b.string("user.sweep2")), address(b.straddling()), 64 }; },
            with_bytes(2, 16) },
        { "fgetxattr", SYS_fgetxattr,
            [&c](Blocks& b) { return Arguments { c.file, address(b.string("user.sweep3")), address(b.straddling()), 64 }; },
            with_bytes(2, 16) },
        { "listxattr", SYS_listxattr, [=](Blocks& b) { return Arguments { data(b), address(b.straddling()), 256 }; } },
        { "llistxattr", SYS_llistxattr, [=](Blocks& b) { return Arguments { data(b), address(b.straddling()), 256 }; } },
        { "flistxattr", SYS_flistxattr, [&c](Blocks& b) { return Arguments { c.file, address(b.straddling()), 256 }; } },
        { "removexattr", SYS_removexattr, [=](Blocks& b) { return Arguments { data(b), address(b.string("user.sweep")) }; } },
        { "lremovexattr", SYS_lremovexattr, [=](Blocks& b) { return Arguments { data(b), address(b.string("user.sweep2")) }; } },
        { "fremovexattr", SYS_fremovexattr, [&c](Blocks& b) { return Arguments { c.file, address(b.string("user.sweep3")) }; } },
        { "name_to_handle_at", SYS_name_to_handle_at,
            [=](Blocks& b) {
                auto* handle = b.straddling<std::uint32_t>(4);
                handle[0] = 128;
                return Arguments { AT_FDCWD, data(b), address(handle), address(b.straddling(2)), 0 };
            } },
        { "inotify_add_watch", SYS_inotify_add_watch,
            [&c](Blocks& b) { return Arguments { c.inotify, address(b.string(c.dir)), IN_CREATE }; } },
        { "memfd_create", SYS_memfd_create, [](Blocks& b) { return Arguments { address(b.string("sweep")), 0 }; }, closed },
        { "getdents64", SYS_getdents64, [&c](Blocks& b) { return Arguments { c.directory, address(b.straddling(16)), 4096 }; },
            to_the_end(c.directory, SYS_getdents64) },
        { "umount2", SYS_umount2, [](Blocks& b) { return Arguments { address(b.string("/nonexistent-vmemu-sweep")), 0 }; } },
        { "swapoff", SYS_swapoff, [](Blocks& b) { return Arguments { address(b.string("/nonexistent-vmemu-sweep")) }; } },
        { "chroot", SYS_chroot, [](Blocks& b) { return Arguments { address(b.string("/nonexistent-vmemu-sweep")) }; } },
        { "mount", SYS_mount,
            [](Blocks& b) {
                return Arguments { address(b.string("none")), address(b.string("/nonexistent-vmemu-sweep")),
                    address(b.string("tmpfs")), 0, 0 };
            } },
    };
}

std::vector<Case> data_cases(Context& c)
{
    auto rewind = [&c] { lseek(c.file, 0, SEEK_SET); };
    auto offset = [](Blocks& b, off_t value) {
        auto* at = b.straddling<off_t>(4);
        *at = value;
        return address(at);
    };
    auto drain = [&c](long result, const Arguments&) {
        char buffer[256];
        long got = result > 0 ? read(c.pipe[0], buffer, sizeof buffer) : 0;
        return Outcome { result, got > 0 ? checksum(buffer, static_cast<std::size_t>(got)) : 0 };
    };
    // fcntl(file, command, a struct flock of the type) on the whole file.
    auto lock = [&c](Blocks& b, int command, short type) {
        auto* request = b.zeroed<flock>();
        request->l_type = type;
        return Arguments { c.file, command, address(request) };
    };
    auto vectors_read = [](long result, const Arguments& a) {
        return Outcome { result, iovec_checksum(reinterpret_cast<iovec*>(a[1]), static_cast<int>(a[2])) };
    };
    return {
        { "write", SYS_write, [&c](Blocks& b) { return Arguments { c.file, address(b.straddling(16)), 100 }; } },
        { "pwrite64", SYS_pwrite64, [&c](Blocks& b) { return Arguments { c.file, address(b.straddling(16)), 200, 100 }; } },
        { "writev", SYS_writev,
            [&c](Blocks& b) {
                iovec* vectors = iovecs(b, 2, 50);
                std::memset(vectors[1].iov_base, 0x22, 50);
                return Arguments { c.file, address(vectors), 2 };
            } },
        { "pwritev", SYS_pwritev, [&c](Blocks& b) { return Arguments { c.file, address(iovecs(b, 2, 50)), 2, 300 }; } },
        { "pwritev2", SYS_pwritev2, [&c](Blocks& b) { return Arguments { c.file, address(iovecs(b, 2, 50)), 2, 400, 0, 0 }; } },
        { "read", SYS_read,
            [&c, rewind](Blocks& b) {
                rewind();
                return Arguments { c.file, address(b.straddling(16)), 300 };
            },
            with_bytes(1, 300) },
        { "pread64", SYS_pread64, [&c](Blocks& b) { return Arguments { c.file, address(b.straddling(16)), 500, 0 }; },
            with_bytes(1, 450) },
        { "readv", SYS_readv,
            [&c, rewind](Blocks& b) {
                rewind();
                return Arguments { c.file, address(iovecs(b, 2, 70)), 2 };
            },
            vectors_read },
        { "preadv", SYS_preadv, [&c](Blocks& b) { return Arguments { c.file, address(iovecs(b, 2, 60)), 2, 10 }; }, vectors_read },
        { "preadv2", SYS_preadv2, [&c](Blocks& b) { return Arguments { c.file, address(iovecs(b, 3, 40)), 3, 20, 0, 0 }; },
            vectors_read },
        { "sendfile", SYS_sendfile, [=, &c](Blocks& b) { return Arguments { c.copy, c.file, offset(b, 0), 100 }; },
            with_bytes(2, sizeof(off_t)) },
        { "copy_file_range", SYS_copy_file_range,
            [=, &c](Blocks& b) { return Arguments { c.file, offset(b, 0), c.copy, offset(b, 1000), 50, 0 }; },
            [](long result, const Arguments& a) {
                auto in = static_cast<std::uint64_t>(*reinterpret_cast<off_t*>(a[1]));
                auto out = static_cast<std::uint64_t>(*reinterpret_cast<off_t*>(a[3]));
                return Outcome { result, in << 32 | out };
            } },
        { "splice", SYS_splice, [=, &c](Blocks& b) { return Arguments { c.file, offset(b, 7), c.pipe[1], 0, 64, 0 }; }, drain },
        { "vmsplice into a pipe", SYS_vmsplice,
            [&c](Blocks& b) {
                iovec* vectors = iovecs(b, 2, 40);
                std::memset(vectors[0].iov_base, 0x33, 40);
                return Arguments { c.pipe[1], address(vectors), 2, 0 };
            },
            drain },
        { "vmsplice out of a pipe", SYS_vmsplice,
            [&c](Blocks& b) {
                char text[80];
                std::memset(text, 0x44, sizeof text);
                (void)!write(c.pipe[1], text, sizeof text);
                return Arguments { c.pipe[0], address(iovecs(b, 2, 40)), 2, 0 };
            },
            vectors_read },
        { "pipe", SYS_pipe, [](Blocks& b) { return Arguments { address(b.straddling(4)) }; }, closed_pair(0) },
        { "pipe2", SYS_pipe2, [](Blocks& b) { return Arguments { address(b.straddling(4)), O_CLOEXEC }; }, closed_pair(0) },
        { "getdents", SYS_getdents,
            [&c](Blocks& b) {
                lseek(c.directory, 0, SEEK_SET);
                return Arguments { c.directory, address(b.straddling(16)), 4096 };
            },
            to_the_end(c.directory, SYS_getdents) },
        { "mincore", SYS_mincore,
            [](Blocks& b) {
                char* pages = b.straddling(4096);
                return Arguments { address(pages), 2 * 4096, address(b.straddling(1)) };
            } },
        { "cachestat", SYS_cachestat,
            [&c](Blocks& b) { return Arguments { c.file, address(b.zeroed<std::uint64_t[2]>()), address(b.straddling()), 0 }; } },
        { "fcntl F_GETLK", SYS_fcntl, [=](Blocks& b) { return lock(b, F_GETLK, F_WRLCK); }, with_bytes(2, sizeof(short)) },
        { "fcntl F_SETLK", SYS_fcntl, [=](Blocks& b) { return lock(b, F_SETLK, F_WRLCK); } },
        { "fcntl F_OFD_GETLK", SYS_fcntl, [=](Blocks& b) { return lock(b, F_OFD_GETLK, F_RDLCK); }, with_bytes(2, sizeof(short)) },
        { "fcntl F_GETOWN_EX", SYS_fcntl,
            [&c](Blocks& b) { return Arguments { c.file, F_GETOWN_EX, address(b.straddling(4)) }; } },
        { "ioctl FIONREAD", SYS_ioctl, [&c](Blocks& b) { return Arguments { c.pipe[0], FIONREAD, address(b.straddling(2)) }; },
            with_bytes(2, sizeof(int)) },
        { "ioctl TCGETS", SYS_ioctl, [&c](Blocks& b) { return Arguments { c.file, TCGETS, address(b.straddling()) }; } },
        { "ioctl RNDGETENTCNT", SYS_ioctl,
            [&c](Blocks& b) { return Arguments { c.urandom, RNDGETENTCNT, address(b.straddling(2)) }; } },
    };
}

std::vector<Case> event_cases(Context& c)
{
    auto pollfds = [&c](Blocks& b) {
        auto* fds = b.straddling<pollfd>(4);
        fds[0] = { c.pipe[0], POLLIN, 0 };
        fds[1] = { c.pipe[1], POLLOUT, 0 };
        return fds;
    };
    auto sigset = [](Blocks& b) {
        auto* set = b.straddling<std::uint64_t>(4);
        *set = 0;
        return address(set);
    };
    auto fd_sets = [&c](Blocks& b, int which) {
        // One byte of the set on each page: the pipe's descriptors are 8 or more.
        auto* set = b.straddling<fd_set>(1);
        FD_ZERO(set);
        FD_SET(c.pipe[which], set);
        return address(set);
    };
    auto events = [](long result, const Arguments& a) {
        return Outcome { result, result > 0 ? reinterpret_cast<epoll_event*>(a[1])->events : 0 };
    };
    return {
        { "poll", SYS_poll, [=](Blocks& b) { return Arguments { address(pollfds(b)), 2, 0 }; },
            [](long result, const Arguments& a) {
                auto* fds = reinterpret_cast<pollfd*>(a[0]);
                return Outcome { result, static_cast<std::uint64_t>(fds[0].revents) << 16 | fds[1].revents };
            } },
        { "ppoll", SYS_ppoll, [=](Blocks& b) { return Arguments { address(pollfds(b)), 2, address(zero_timeout(b)), sigset(b), 8 }; } },
        { "select", SYS_select,
            [=, &c](Blocks& b) {
                return Arguments { c.pipe[1] + 1, fd_sets(b, 0), fd_sets(b, 1), 0, address(b.zeroed<timeval>()) };
            } },
        { "pselect6", SYS_pselect6,
            [=, &c](Blocks& b) {
                auto* mask = b.straddling<long>(8);
                mask[0] = sigset(b);
                mask[1] = 8;
                return Arguments { c.pipe[1] + 1, fd_sets(b, 0), fd_sets(b, 1), 0, address(zero_timeout(b)), address(mask) };
            } },
        { "epoll_ctl", SYS_epoll_ctl,
            [&c](Blocks& b) {
                auto* event = b.zeroed<epoll_event>(4);
                event->events = EPOLLOUT;
                return Arguments { c.epoll, EPOLL_CTL_ADD, c.pipe[1], address(event) };
            } },
        { "epoll_wait", SYS_epoll_wait, [&c](Blocks& b) { return Arguments { c.epoll, address(b.straddling(8)), 4, 0 }; }, events },
        { "epoll_pwait", SYS_epoll_pwait,
            [=, &c](Blocks& b) { return Arguments { c.epoll, address(b.straddling(8)), 4, 0, sigset(b), 8 }; }, events },
        { "epoll_pwait2", SYS_epoll_pwait2,
            [=, &c](Blocks& b) { return Arguments { c.epoll, address(b.straddling(8)), 4, address(zero_timeout(b)), sigset(b), 8 }; },
            events },
        { "eventfd write", SYS_write,
            [&c](Blocks& b) {
                auto* value = b.straddling<std::uint64_t>(4);
                *value = 5;
                return Arguments { c.event, address(value), 8 };
            } },
        { "eventfd read", SYS_read, [&c](Blocks& b) { return Arguments { c.event, address(b.straddling(4)), 8 }; },
            with_bytes(1, 8) },
        { "timerfd_settime", SYS_timerfd_settime,
            [&c](Blocks& b) { return Arguments { c.timer_fd, 0, address(b.zeroed<itimerspec>()), address(b.straddling()) }; },
            with_bytes(3, sizeof(itimerspec)) },
        { "timerfd_gettime", SYS_timerfd_gettime, [&c](Blocks& b) { return Arguments { c.timer_fd, address(b.straddling()) }; },
            with_bytes(1, sizeof(itimerspec)) },
        { "timer_create", SYS_timer_create, [](Blocks& b) { return Arguments { CLOCK_MONOTONIC, 0, address(b.straddling(2)) }; },
            [](long result, const Arguments& a) {
                if (result == 0)
                    syscall(SYS_timer_delete, *reinterpret_cast<int*>(a[2]));
                return Outcome { result };
            } },
        { "timer_settime", SYS_timer_settime,
            [&c](Blocks& b) {
                return Arguments { reinterpret_cast<long>(c.timer), 0, address(b.zeroed<itimerspec>()), address(b.straddling()) };
            },
            with_bytes(3, sizeof(itimerspec)) },
        { "timer_gettime", SYS_timer_gettime,
            [&c](Blocks& b) { return Arguments { reinterpret_cast<long>(c.timer), address(b.straddling()) }; },
            with_bytes(1, sizeof(itimerspec)) },
    };
}

std::vector<Case> signal_cases(Context& c)
{
    auto usr2 = [](Blocks& b) {
        auto* set = b.straddling<std::uint64_t>(4);
        *set = std::uint64_t { 1 } << (SIGUSR2 - 1);
        return address(set);
    };
    auto queued = [](Blocks& b) {
        auto* info = b.zeroed<siginfo_t>();
        info->si_signo = SIGUSR2;
        info->si_code = SI_QUEUE;
        info->si_pid = getpid();
        info->si_uid = getuid();
        info->si_value.sival_int = 42;
        return address(info);
    };
    auto waited = [](long result, const Arguments& a) {
        return Outcome { result, result > 0 ? static_cast<std::uint64_t>(reinterpret_cast<siginfo_t*>(a[1])->si_value.sival_int) : 0 };
    };
    auto wait_for_usr2 = [=](Blocks& b) { return Arguments { usr2(b), address(b.straddling()), address(zero_timeout(b)), 8 }; };
    return {
        { "set_tid_address", SYS_set_tid_address, [](Blocks& b) { return Arguments { address(b.straddling(2)) }; },
            [](long result, const Arguments&) {
                // The main thread is never joined: nothing needs its word cleared at exit.
                syscall(SYS_set_tid_address, 0);
                return Outcome { result == gettid() ? 0 : result };
            } },
        { "rseq", SYS_rseq,
            // A second registration beside libc's: refused, whatever it names.
            [](Blocks& b) { return Arguments { address(b.zeroed<std::uint64_t[4]>()), 32, 0, 0x53053053 }; } },
        { "rt_sigpending", SYS_rt_sigpending, [](Blocks& b) { return Arguments { address(b.straddling(4)), 8 }; },
            with_bytes(0, 8) },
        { "rt_sigprocmask", SYS_rt_sigprocmask, [](Blocks& b) { return Arguments { SIG_BLOCK, 0, address(b.straddling(4)), 8 }; },
            with_bytes(2, 8) },
        { "rt_sigaction", SYS_rt_sigaction, [](Blocks& b) { return Arguments { SIGUSR2, 0, address(b.straddling()), 8 }; } },
        { "sigaltstack", SYS_sigaltstack, [](Blocks& b) { return Arguments { 0, address(b.straddling()) }; } },
        { "rt_sigtimedwait none", SYS_rt_sigtimedwait, wait_for_usr2, waited },
        { "rt_sigqueueinfo", SYS_rt_sigqueueinfo, [=](Blocks& b) { return Arguments { getpid(), SIGUSR2, queued(b) }; } },
        { "rt_sigtimedwait", SYS_rt_sigtimedwait, wait_for_usr2, waited },
        { "rt_tgsigqueueinfo", SYS_rt_tgsigqueueinfo,
            [=](Blocks& b) { return Arguments { getpid(), gettid(), SIGUSR2, queued(b) }; } },
        { "rt_sigtimedwait", SYS_rt_sigtimedwait, wait_for_usr2, waited },
        { "pidfd_send_signal", SYS_pidfd_send_signal, [=, &c](Blocks& b) { return Arguments { c.pidfd, SIGUSR2, queued(b), 0 }; } },
        { "rt_sigtimedwait", SYS_rt_sigtimedwait, wait_for_usr2, waited },
        { "rt_sigqueueinfo", SYS_rt_sigqueueinfo, [=](Blocks& b) { return Arguments { getpid(), SIGUSR2, queued(b) }; } },
        { "rt_sigsuspend", SYS_rt_sigsuspend,
            [](Blocks& b) {
                // Every signal but SIGUSR2 blocked while it waits: the pending one is handled.
                auto* mask = b.straddling<std::uint64_t>(4);
                *mask = ~(std::uint64_t { 1 } << (SIGUSR2 - 1));
                return Arguments { address(mask), 8 };
            },
            [](long result, const Arguments&) { return Outcome { result, static_cast<std::uint64_t>(g_usr2_handled) }; } },
        { "signalfd", SYS_signalfd, [=](Blocks& b) { return Arguments { -1, usr2(b), 8 }; }, closed },
        { "signalfd4", SYS_signalfd4, [=](Blocks& b) { return Arguments { -1, usr2(b), 8, 0 }; }, closed },
    };
}

std::vector<Case> futex_cases()
{
    // Futex words, 4-byte aligned and so never across a page, each in a page of its own.
    auto word = [](Blocks& b) {
        auto* at = b.straddling<std::uint32_t>(4);
        *at = 0;
        return at;
    };
    auto waiters = [=](Blocks& b, std::uint64_t value) {
        auto* list = b.straddling<futex_waitv>(8);
        for (int i = 0; i < 2; ++i)
            list[i] = { value, static_cast<std::uint64_t>(address(word(b))), FUTEX2_SIZE_U32 | FUTEX2_PRIVATE, 0 };
        return address(list);
    };
    return {
        { "futex FUTEX_WAIT", SYS_futex,
            [=](Blocks& b) { return Arguments { address(word(b)), FUTEX_WAIT_PRIVATE, 1, address(zero_timeout(b)) }; } },
        { "futex FUTEX_WAKE", SYS_futex, [=](Blocks& b) { return Arguments { address(word(b)), FUTEX_WAKE_PRIVATE, 1 }; } },
        { "futex FUTEX_CMP_REQUEUE", SYS_futex,
            [=](Blocks& b) { return Arguments { address(word(b)), FUTEX_CMP_REQUEUE_PRIVATE, 1, 1, address(word(b)), 0 }; } },
        { "futex FUTEX_WAKE_OP", SYS_futex,
            [=](Blocks& b) { return Arguments { address(word(b)), FUTEX_WAKE_OP_PRIVATE, 1, 1, address(word(b)), 0 }; } },
        { "futex_waitv", SYS_futex_waitv, [=](Blocks& b) { return Arguments { waiters(b, 1), 2, 0, 0, CLOCK_MONOTONIC }; } },
        { "futex_wake", SYS_futex_wake,
            [=](Blocks& b) { return Arguments { address(word(b)), 0xffffffffL, 1, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE }; } },
        { "futex_wait", SYS_futex_wait,
            [=](Blocks& b) { return Arguments { address(word(b)), 1, 0xffffffffL, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE, 0, 0 }; } },
        { "futex_requeue", SYS_futex_requeue, [=](Blocks& b) { return Arguments { waiters(b, 0), 0, 1, 1 }; } },
    };
}

std::vector<Case> socket_cases(Context& c)
{
    auto text = [](Blocks& b, std::size_t before, char value) {
        char* at = b.straddling(before);
        std::memset(at, value, 100);
        return at;
    };
    auto length_of = [](Blocks& b, socklen_t value) {
        auto* at = b.straddling<socklen_t>(2);
        *at = value;
        return address(at);
    };
    auto message = [](Blocks& b, iovec* vectors, int count) {
        auto* header = b.zeroed<msghdr>(16);
        header->msg_iov = vectors;
        header->msg_iovlen = static_cast<std::size_t>(count);
        return header;
    };
    auto received = [](long result, const Arguments& a) {
        const auto* header = reinterpret_cast<const msghdr*>(a[1]);
        return Outcome { result, iovec_checksum(header->msg_iov, static_cast<int>(header->msg_iovlen)) };
    };
    auto messages = [=](Blocks& b, char fill) {
        auto* vector = b.straddling<mmsghdr>(24);
        for (int i = 0; i < 2; ++i) {
            iovec* vectors = iovecs(b, 1, 30);
            std::memset(vectors[0].iov_base, fill + i, 30);
            vector[i] = { *message(b, vectors, 1), 0 };
        }
        return vector;
    };
    return {
        { "sendto", SYS_sendto, [=, &c](Blocks& b) { return Arguments { c.datagram[0], address(text(b, 16, 0x55)), 100, 0, 0, 0 }; } },
        { "recvfrom", SYS_recvfrom,
            [=, &c](Blocks& b) {
                return Arguments { c.datagram[1], address(b.straddling(16)), 200, MSG_DONTWAIT, address(b.straddling(4)),
                    length_of(b, sizeof(sockaddr_un)) };
            },
            with_bytes(1, 100) },
        { "sendmsg", SYS_sendmsg,
            [=, &c](Blocks& b) {
                iovec* vectors = iovecs(b, 2, 40);
                std::memset(vectors[1].iov_base, 0x66, 40);
                return Arguments { c.datagram[0], address(message(b, vectors, 2)), 0 };
            } },
        { "recvmsg", SYS_recvmsg, [=, &c](Blocks& b) { return Arguments { c.datagram[1], address(message(b, iovecs(b, 2, 50), 2)), MSG_DONTWAIT }; },
            received },
        { "sendmmsg", SYS_sendmmsg, [=, &c](Blocks& b) { return Arguments { c.datagram[0], address(messages(b, 0x70)), 2, 0 }; } },
        { "recvmmsg", SYS_recvmmsg,
            [=, &c](Blocks& b) {
                auto* timeout = b.zeroed<timespec>();
                timeout->tv_sec = 1;
                return Arguments { c.datagram[1], address(messages(b, 0)), 2, MSG_DONTWAIT, address(timeout) };
            },
            [](long result, const Arguments& a) {
                const auto* vector = reinterpret_cast<const mmsghdr*>(a[1]);
                return Outcome { result, iovec_checksum(vector[0].msg_hdr.msg_iov, 1) * 7 + iovec_checksum(vector[1].msg_hdr.msg_iov, 1) };
            } },
        { "socketpair", SYS_socketpair, [](Blocks& b) { return Arguments { AF_UNIX, SOCK_STREAM, 0, address(b.straddling(4)) }; },
            closed_pair(3) },
        { "bind", SYS_bind,
            [&c](Blocks& b) {
                // The family alone: the kernel picks an abstract name (autobind).
                auto* name = b.straddling<sa_family_t>(1);
                *name = AF_UNIX;
                return Arguments { c.unbound, address(name), sizeof(sa_family_t) };
            } },
        { "connect", SYS_connect,
            [&c](Blocks& b) {
                auto* name = b.straddling<sockaddr_un>(8);
                *name = c.listener_name;
                return Arguments { c.connected, address(name), c.listener_length };
            } },
        { "accept4", SYS_accept4,
            [=, &c](Blocks& b) { return Arguments { c.listener, address(b.straddling(4)), length_of(b, sizeof(sockaddr_un)), 0 }; },
            closed },
        { "accept", SYS_accept,
            [=, &c](Blocks& b) {
                int second = socket(AF_UNIX, SOCK_STREAM, 0);
                connect(second, reinterpret_cast<const sockaddr*>(&c.listener_name), c.listener_length);
                close(second);
                return Arguments { c.listener, address(b.straddling(4)), length_of(b, sizeof(sockaddr_un)) };
            },
            closed },
        { "getsockname", SYS_getsockname,
            [=, &c](Blocks& b) { return Arguments { c.listener, address(b.straddling(4)), length_of(b, sizeof(sockaddr_un)) }; },
            [](long result, const Arguments& a) { return Outcome { result, *reinterpret_cast<socklen_t*>(a[2]) }; } },
        { "getpeername", SYS_getpeername,
            [=, &c](Blocks& b) { return Arguments { c.connected, address(b.straddling(4)), length_of(b, sizeof(sockaddr_un)) }; },
            [](long result, const Arguments& a) { return Outcome { result, *reinterpret_cast<socklen_t*>(a[2]) }; } },
        { "setsockopt", SYS_setsockopt,
            [&c](Blocks& b) {
                auto* value = b.straddling<int>(2);
                *value = 65536;
                return Arguments { c.datagram[0], SOL_SOCKET, SO_SNDBUF, address(value), sizeof(int) };
            } },
        { "getsockopt", SYS_getsockopt,
            [=, &c](Blocks& b) {
                return Arguments { c.datagram[0], SOL_SOCKET, SO_TYPE, address(b.straddling(2)), length_of(b, sizeof(int)) };
            },
            with_bytes(3, sizeof(int)) },
        { "setsockopt SO_ATTACH_FILTER", SYS_setsockopt,
            [=, &c](Blocks& b) { return Arguments { c.datagram[1], SOL_SOCKET, SO_ATTACH_FILTER, filter(b, 0xffffffff), sizeof(sock_fprog) }; } },
    };
}

std::vector<Case> ipc_cases(Context& c)
{
    constexpr std::size_t kMessage = 6000; // a struct msgbuf across three pages
    auto sembufs = [](Blocks& b, std::initializer_list<sembuf> operations) {
        auto* at = b.straddling<sembuf>(4);
        std::size_t i = 0;
        for (const sembuf& operation : operations)
            at[i++] = operation;
        return address(at);
    };
    return {
        { "msgsnd", SYS_msgsnd,
            [&c](Blocks& b) {
                auto* message = b.straddling<long>(4);
                message[0] = 1;
                std::memset(message + 1, 0x77, kMessage);
                return Arguments { c.message_queue, address(message), kMessage, 0 };
            } },
        { "msgrcv", SYS_msgrcv, [&c](Blocks& b) { return Arguments { c.message_queue, address(b.straddling(4)), 8000, 0, IPC_NOWAIT }; },
            with_bytes(1, 8 + kMessage) },
        { "msgctl IPC_STAT", SYS_msgctl, [&c](Blocks& b) { return Arguments { c.message_queue, IPC_STAT, address(b.straddling()) }; } },
        { "semop", SYS_semop,
            [=, &c](Blocks& b) { return Arguments { c.semaphores, sembufs(b, { { 0, 1, 0 }, { 1, 2, 0 } }), 2 }; } },
        { "semtimedop", SYS_semtimedop,
            [=, &c](Blocks& b) {
                auto* timeout = b.zeroed<timespec>();
                timeout->tv_sec = 1;
                return Arguments { c.semaphores, sembufs(b, { { 0, -1, IPC_NOWAIT } }), 1, address(timeout) };
            } },
        { "semctl GETALL", SYS_semctl, [&c](Blocks& b) { return Arguments { c.semaphores, 0, GETALL, address(b.straddling(2)) }; },
            with_bytes(3, 2 * sizeof(unsigned short)) },
        { "shmctl IPC_STAT", SYS_shmctl,
            [&c](Blocks& b) { return Arguments { c.shared_memory, IPC_STAT, address(b.straddling()) }; } },
        { "mq_open", SYS_mq_open,
            [&c](Blocks& b) {
                auto* attributes = b.zeroed<mq_attr>();
                attributes->mq_maxmsg = 4;
                attributes->mq_msgsize = 64;
                return Arguments { address(b.string(c.mq_name)), O_CREAT | O_RDWR, 0600, address(attributes) };
            },
            [&c](long result, const Arguments&) {
                c.mq = static_cast<int>(result);
                return Outcome { result < 0 ? result : 0 };
            } },
        { "mq_timedsend", SYS_mq_timedsend,
            [&c](Blocks& b) {
                char* text = b.straddling(16);
                std::memset(text, 0x7a, 64);
                return Arguments { c.mq, address(text), 64, 3, address(zero_timeout(b)) };
            } },
        { "mq_timedreceive", SYS_mq_timedreceive,
            [&c](Blocks& b) { return Arguments { c.mq, address(b.straddling(16)), 64, address(b.straddling(2)), address(zero_timeout(b)) }; },
            [](long result, const Arguments& a) {
                return Outcome { result, checksum(reinterpret_cast<const void*>(a[1]), 64) + *reinterpret_cast<unsigned*>(a[3]) };
            } },
        { "mq_getsetattr", SYS_mq_getsetattr,
            [&c](Blocks& b) { return Arguments { c.mq, address(b.zeroed<mq_attr>()), address(b.straddling()) }; },
            with_bytes(2, sizeof(mq_attr)) },
        { "mq_notify", SYS_mq_notify,
            [&c](Blocks& b) {
                auto* event = b.zeroed<sigevent>();
                event->sigev_notify = SIGEV_NONE;
                return Arguments { c.mq, address(event) };
            } },
        { "mq_unlink", SYS_mq_unlink, [&c](Blocks& b) { return Arguments { address(b.string(c.mq_name)) }; } },
    };
}

// Calls made so that they fail harmlessly (a path that does not exist, a bad descriptor, a
// bad magic number, a context that was never set up) after the kernel has read what they
// point to, so that privileged calls are swept too, as root or not, without their effects.
std::vector<Case> refused_cases()
{
    auto nowhere = [](Blocks& b) { return address(b.string("/nonexistent-vmemu-sweep")); };
    auto strings = [](Blocks& b) {
        auto* vector = b.straddling<const char*>(8);
        vector[0] = b.string("one");
        vector[1] = b.string("two");
        vector[2] = nullptr;
        return address(vector);
    };
    return {
        { "ptrace", SYS_ptrace, [](Blocks& b) { return Arguments { 12 /* PTRACE_GETREGS */, 0x3ffffff0, 0, address(b.straddling()) }; } },
        { "acct", SYS_acct, [=](Blocks& b) { return Arguments { nowhere(b) }; } },
        { "swapon", SYS_swapon, [=](Blocks& b) { return Arguments { nowhere(b), 0 }; } },
        { "pivot_root", SYS_pivot_root, [=](Blocks& b) { return Arguments { nowhere(b), nowhere(b) }; } },
        { "uselib", SYS_uselib, [=](Blocks& b) { return Arguments { nowhere(b) }; } },
        { "quotactl", SYS_quotactl,
            [=](Blocks& b) { return Arguments { 0x800005 /* QCMD(Q_GETINFO, USRQUOTA) */, nowhere(b), 0, address(b.straddling()) }; } },
        { "delete_module", SYS_delete_module, [](Blocks& b) { return Arguments { address(b.string("vmemu_sweep_none")), O_NONBLOCK }; } },
        { "init_module", SYS_init_module,
            [](Blocks& b) { return Arguments { address(b.straddling(8)), 16, address(b.string("")) }; } },
        { "finit_module", SYS_finit_module, [](Blocks& b) { return Arguments { -1, address(b.string("")), 0 }; } },
        { "reboot", SYS_reboot, [](Blocks& b) { return Arguments { 0x12345678 /* not the magic */, 0, 0, address(b.straddling()) }; } },
        { "clock_settime", SYS_clock_settime, [](Blocks& b) { return Arguments { CLOCK_MONOTONIC, address(zero_timeout(b)) }; } },
        { "ustat", SYS_ustat, [](Blocks& b) { return Arguments { 0, address(b.straddling()) }; } },
        { "execveat", SYS_execveat, [=](Blocks& b) { return Arguments { AT_FDCWD, nowhere(b), strings(b), strings(b), 0 }; } },
        { "request_key", SYS_request_key,
            [](Blocks& b) { return Arguments { address(b.string("user")), address(b.string("vmemu:none")), 0, 0 }; } },
        { "fanotify_mark", SYS_fanotify_mark, [=](Blocks& b) { return Arguments { -1, 1 /* FAN_MARK_ADD */, 1, AT_FDCWD, nowhere(b) }; } },
        { "open_by_handle_at", SYS_open_by_handle_at,
            [](Blocks& b) {
                auto* handle = b.straddling<std::uint32_t>(4);
                handle[0] = 8;
                handle[1] = 1;
                return Arguments { AT_FDCWD, address(handle), O_RDONLY };
            } },
        { "bpf", SYS_bpf, [](Blocks& b) { return Arguments { 1000 /* no such command */, address(b.straddling()), 16 }; } },
        { "open_tree", SYS_open_tree, [=](Blocks& b) { return Arguments { AT_FDCWD, nowhere(b), 0 }; } },
        { "move_mount", SYS_move_mount, [=](Blocks& b) { return Arguments { AT_FDCWD, nowhere(b), AT_FDCWD, nowhere(b), 0 }; } },
        { "fsopen", SYS_fsopen, [](Blocks& b) { return Arguments { address(b.string("vmemu_sweep_none")), 0 }; } },
        { "fsconfig", SYS_fsconfig, [](Blocks& b) { return Arguments { -1, 1 /* FSCONFIG_SET_STRING */, address(b.string("key")), address(b.string("value")), 0 }; } },
        { "fspick", SYS_fspick, [=](Blocks& b) { return Arguments { AT_FDCWD, nowhere(b), 0 }; } },
        { "mount_setattr", SYS_mount_setattr, [=](Blocks& b) { return Arguments { AT_FDCWD, nowhere(b), 0, address(b.zeroed<std::uint64_t[4]>()), 32 }; } },
        { "quotactl_fd", SYS_quotactl_fd, [](Blocks& b) { return Arguments { -1, 0x800005, 0, address(b.straddling()) }; } },
        { "landlock_add_rule", SYS_landlock_add_rule, [](Blocks& b) { return Arguments { -1, 1, address(b.straddling(4)), 0 }; } },
        { "io_getevents", SYS_io_getevents,
            [](Blocks& b) { return Arguments { 0, 1, 1, address(b.straddling()), address(zero_timeout(b)) }; } },
        { "io_pgetevents", SYS_io_pgetevents,
            [](Blocks& b) {
                auto* mask = b.straddling<long>(8);
                mask[0] = address(b.straddling(4));
                mask[1] = 8;
                return Arguments { 0, 1, 1, address(b.straddling()), address(zero_timeout(b)), address(mask) };
            } },
        { "io_cancel", SYS_io_cancel, [](Blocks& b) { return Arguments { 0, address(b.straddling()), address(b.straddling()) }; } },
    };
}

// Calls whose structures point to more memory, last: the seccomp filter stays.
std::vector<Case> indirect_cases(Context& c)
{
    return {
        { "add_key", SYS_add_key,
            [](Blocks& b) {
                char* payload = b.straddling(8);
                return Arguments { address(b.string("user")), address(b.string("vmemu:sweep")), address(payload), 16,
                    -2 /* KEY_SPEC_PROCESS_KEYRING */ };
            },
            [&c](long result, const Arguments&) {
                c.key = result;
                return Outcome { result < 0 ? result : 0 };
            } },
        { "keyctl KEYCTL_READ", SYS_keyctl, [&c](Blocks& b) { return Arguments { 11, c.key, address(b.straddling()), 64 }; },
            with_bytes(2, 16) },
        { "landlock_create_ruleset", SYS_landlock_create_ruleset,
            [](Blocks& b) {
                auto* attributes = b.zeroed<std::uint64_t[3]>(4);
                (*attributes)[0] = 1; // LANDLOCK_ACCESS_FS_EXECUTE
                return Arguments { address(attributes), 8, 0 };
            },
            closed },
        { "seccomp SECCOMP_GET_ACTION_AVAIL", SYS_seccomp,
            [](Blocks& b) {
                auto* action = b.straddling<std::uint32_t>(2);
                *action = SECCOMP_RET_KILL_PROCESS;
                return Arguments { SECCOMP_GET_ACTION_AVAIL, 0, address(action) };
            } },
        { "seccomp SECCOMP_SET_MODE_FILTER", SYS_seccomp,
            [=](Blocks& b) {
                prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                return Arguments { SECCOMP_SET_MODE_FILTER, 0, filter(b, SECCOMP_RET_ALLOW) };
            } },
    };
}

void remove_all(const Context& c)
{
    for (const char* name : { "data", "copy", "created", "sym", "sym2", "fifo", "fifo2", "link1", "link5" })
        unlink(c.at(name).c_str());
    for (const char* name : { "sub", "sub2" })
        rmdir(c.at(name).c_str());
    rmdir(c.dir.c_str());
}

void open_all(Context& c, const std::string& prefix)
{
    c.dir = prefix + ".d";
    c.data = c.at("data");
    remove_all(c);
    mkdir(c.dir.c_str(), 0700);
    c.file = open(c.data.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    c.copy = open(c.at("copy").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    c.directory = open(c.dir.c_str(), O_RDONLY | O_DIRECTORY);
    (void)!pipe(c.pipe);
    socketpair(AF_UNIX, SOCK_DGRAM, 0, c.datagram);
    // An abstract name of fixed length, unique to the process.
    c.listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    c.connected = socket(AF_UNIX, SOCK_STREAM, 0);
    c.unbound = socket(AF_UNIX, SOCK_DGRAM, 0);
    c.listener_name.sun_family = AF_UNIX;
    std::snprintf(c.listener_name.sun_path + 1, sizeof c.listener_name.sun_path - 1, "vmemu-sweep-%010d", getpid());
    c.listener_length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + std::strlen(c.listener_name.sun_path + 1));
    bind(c.listener, reinterpret_cast<sockaddr*>(&c.listener_name), c.listener_length);
    listen(c.listener, 4);
    c.epoll = epoll_create1(0);
    c.event = eventfd(0, EFD_NONBLOCK);
    c.timer_fd = timerfd_create(CLOCK_MONOTONIC, 0);
    c.inotify = inotify_init1(0);
    c.urandom = open("/dev/urandom", O_RDONLY);
    c.pidfd = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0));
    sigevent none {};
    none.sigev_notify = SIGEV_NONE;
    timer_create(CLOCK_MONOTONIC, &none, &c.timer);
    c.message_queue = msgget(IPC_PRIVATE, 0600);
    c.semaphores = semget(IPC_PRIVATE, 2, 0600);
    c.shared_memory = shmget(IPC_PRIVATE, 4096, 0600);
    // The system calls take the name without mq_open()'s leading '/'.
    char name[64];
    std::snprintf(name, sizeof name, "vmemu-sweep-%010d", getpid());
    c.mq_name = name;
    // The signals the sweep queues to itself wait, blocked, for rt_sigtimedwait.
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    sigprocmask(SIG_BLOCK, &usr2, nullptr);
    signal(SIGUSR2, on_usr2);
}

void close_all(Context& c)
{
    msgctl(c.message_queue, IPC_RMID, nullptr);
    semctl(c.semaphores, 0, IPC_RMID);
    shmctl(c.shared_memory, IPC_RMID, nullptr);
    if (c.key >= 0)
        syscall(SYS_keyctl, 3 /* KEYCTL_REVOKE */, c.key);
    remove_all(c);
}

} // namespace

int main(int argc, char** argv)
{
    Context context;
    open_all(context, argc > 1 ? argv[1] : "/tmp/preload_syscall_sweep");
    vmemu::test::Evictor evictor;
    std::fflush(stdout);
    std::vector<std::vector<Case>> families { process_cases(), path_cases(context), data_cases(context), event_cases(context),
        signal_cases(context), futex_cases(), socket_cases(context), ipc_cases(context), refused_cases(),
        indirect_cases(context) };
    int count = 0;
    for (const auto& family : families) {
        for (const Case& c : family) {
            Blocks blocks;
            Arguments a = c.build(blocks);
            a.resize(6, 0);
            evictor.evict();
            long result = result_of(syscall(c.nr, a[0], a[1], a[2], a[3], a[4], a[5]));
            Outcome outcome = c.after(result, a);
            std::printf("%-34s %6ld %016llx\n", c.name, outcome.result, static_cast<unsigned long long>(outcome.bytes));
            ++count;
        }
    }
    std::printf("%d calls\n", count);
    close_all(context);
    return 0;
}
