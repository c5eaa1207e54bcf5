// The system-call boundary, table-driven: each system call of the table below is made with its
// memory in the heap (emulated under vmemu) just pushed out of memory, three ways: through
// the libc function, through syscall(), and with an inline syscall instruction; and for stdio
// and a futex, from inside libc. Each case prints its result and a checksum of the bytes the
// kernel wrote, which run_preloaded.sh compares with a native run's.
#include <cerrno>
#include <csetjmp>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <functional>
#include <linux/futex.h>
#include <poll.h>
#include <string>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>
#include "evict_support.hpp"

namespace {

using vmemu::test::checksum;
vmemu::test::Evictor* g_evictor;
void evict() { g_evictor->evict(); }

enum class Way { Libc, Syscall, Inline };
constexpr const char* kWayNames[] = { "libc", "syscall", "inline" };

long raw_syscall(long nr, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0)
{
    long result;
    register long r10 asm("r10") = a3;
    register long r8 asm("r8") = a4;
    register long r9 asm("r9") = a5;
    asm volatile("syscall"
                 : "=a"(result)
                 : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
                 : "rcx", "r11", "memory");
    return result;
}

// The same call three ways: libc's function (returning -1 and errno), syscall(), the instruction.
long call(Way way, const std::function<long()>& libc, long nr, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0,
    long a4 = 0, long a5 = 0)
{
    long result;
    if (way == Way::Libc)
        result = libc();
    else if (way == Way::Syscall)
        result = syscall(nr, a0, a1, a2, a3, a4, a5);
    else
        return raw_syscall(nr, a0, a1, a2, a3, a4, a5);
    return result < 0 ? -errno : result;
}

void report(const char* name, Way way, long result, std::uint64_t sum)
{
    std::printf("%-18s %-8s %8ld %016llx\n", name, kWayNames[static_cast<int>(way)], result,
        static_cast<unsigned long long>(sum));
}

// A heap block, filled with a pattern, then pushed out of memory.
template<typename T = char>
T* fresh(std::size_t bytes)
{
    auto* block = static_cast<char*>(std::malloc(bytes));
    for (std::size_t i = 0; i < bytes; ++i)
        block[i] = static_cast<char>(i * 13 + 5);
    return reinterpret_cast<T*>(block);
}

constexpr std::size_t kData = 300000;

} // namespace

int main(int argc, char** argv)
{
    std::string prefix = argc > 1 ? argv[1] : "/tmp/syscall_boundary";
    std::string data_path = prefix + ".data";
    std::string out_path = prefix + ".out";
    vmemu::test::Evictor evictor;
    g_evictor = &evictor;
    {
        std::string content(kData, '\0');
        for (std::size_t i = 0; i < kData; ++i)
            content[i] = static_cast<char>(i * 7 + i / 4096);
        FILE* f = std::fopen(data_path.c_str(), "w");
        std::fwrite(content.data(), 1, content.size(), f);
        std::fclose(f);
    }
    int data = open(data_path.c_str(), O_RDONLY);
    int out = open(out_path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);

    for (Way way : { Way::Libc, Way::Syscall, Way::Inline }) {
        {
            char* buffer = fresh(kData);
            evict();
            lseek(data, 0, SEEK_SET);
            long n = call(way, [&] { return read(data, buffer, kData); }, SYS_read, data, (long)buffer, kData);
            report("read", way, n, checksum(buffer, kData));
            std::free(buffer);
        }
        {
            char* buffer = fresh(kData);
            evict();
            long n = call(way, [&] { return pread(data, buffer, kData, 100); }, SYS_pread64, data, (long)buffer, kData, 100);
            report("pread64", way, n, checksum(buffer, kData));
            std::free(buffer);
        }
        {
            char* a = fresh(100000);
            char* b = fresh(150000);
            auto* vector = fresh<iovec>(2 * sizeof(iovec));
            vector[0] = { a, 100000 };
            vector[1] = { b, 150000 };
            evict();
            lseek(data, 0, SEEK_SET);
            long n = call(way, [&] { return readv(data, vector, 2); }, SYS_readv, data, (long)vector, 2);
            report("readv", way, n, checksum(a, 100000) ^ checksum(b, 150000));
            evict();
            n = call(way, [&] { return preadv(data, vector, 2, 5); }, SYS_preadv, data, (long)vector, 2, 5, 0);
            report("preadv", way, n, checksum(a, 100000) ^ checksum(b, 150000));
            evict();
            n = call(way, [&] { return preadv2(data, vector, 2, 9, 0); }, SYS_preadv2, data, (long)vector, 2, 9, 0, 0);
            report("preadv2", way, n, checksum(a, 100000) ^ checksum(b, 150000));
            // And back out: pwritev from the heap, read back into memory vmemu does not hold.
            evict();
            n = call(way, [&] { return pwritev(out, vector, 2, 0); }, SYS_pwritev, out, (long)vector, 2, 0, 0);
            static char back[250000];
            long m = pread(out, back, sizeof back, 0);
            report("pwritev", way, n, checksum(back, static_cast<std::size_t>(m > 0 ? m : 0)));
            evict();
            n = call(way, [&] { return pwrite(out, b, 150000, 7); }, SYS_pwrite64, out, (long)b, 150000, 7);
            m = pread(out, back, sizeof back, 0);
            report("pwrite64", way, n, checksum(back, static_cast<std::size_t>(m > 0 ? m : 0)));
            std::free(a);
            std::free(b);
            std::free(vector);
        }
        {
            auto* st = fresh<struct stat>(sizeof(struct stat));
            char* path = fresh(data_path.size() + 1);
            std::memcpy(path, data_path.c_str(), data_path.size() + 1);
            evict();
            long n = call(way, [&] { return fstat(data, st); }, SYS_fstat, data, (long)st);
            report("fstat", way, n, static_cast<std::uint64_t>(st->st_size));
            evict();
            n = call(way, [&] { return fstatat(AT_FDCWD, path, st, 0); }, SYS_newfstatat, AT_FDCWD, (long)path, (long)st, 0);
            report("newfstatat", way, n, static_cast<std::uint64_t>(st->st_size));
            evict();
            n = call(way, [&] { return open(path, O_RDONLY); }, SYS_openat, AT_FDCWD, (long)path, O_RDONLY);
            report("openat", way, n >= 0 ? 0 : n, 0);
            if (n >= 0)
                close(static_cast<int>(n));
            std::free(st);
            std::free(path);
        }
        {
            int* fds = fresh<int>(2 * sizeof(int));
            evict();
            long n = call(way, [&] { return pipe2(fds, 0); }, SYS_pipe2, (long)fds, 0);
            report("pipe2", way, n, 0);
            char* message = fresh(3000);
            char* received = fresh(3000);
            evict();
            n = call(way, [&] { return write(fds[1], message, 3000); }, SYS_write, fds[1], (long)message, 3000);
            report("write", way, n, 0);
            int* pending = fresh<int>(sizeof(int));
            evict();
            n = call(way, [&] { return ioctl(fds[0], FIONREAD, pending); }, SYS_ioctl, fds[0], FIONREAD, (long)pending);
            report("ioctl FIONREAD", way, n, static_cast<std::uint64_t>(*pending));
            auto* poller = fresh<pollfd>(sizeof(pollfd));
            *poller = { fds[0], POLLIN, 0 };
            evict();
            n = call(way, [&] { return poll(poller, 1, 0); }, SYS_poll, (long)poller, 1, 0);
            report("poll", way, n, static_cast<std::uint64_t>(poller->revents));
            evict();
            n = call(way, [&] { return read(fds[0], received, 3000); }, SYS_read, fds[0], (long)received, 3000);
            report("read pipe", way, n, checksum(received, 3000));
            close(fds[0]);
            close(fds[1]);
            std::free(fds);
            std::free(message);
            std::free(received);
            std::free(pending);
            std::free(poller);
        }
        {
            int pair[2];
            socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
            char* a = fresh(2000);
            char* b = fresh(3000);
            auto* vector = fresh<iovec>(2 * sizeof(iovec));
            vector[0] = { a, 2000 };
            vector[1] = { b, 3000 };
            auto* header = fresh<msghdr>(sizeof(msghdr));
            std::memset(header, 0, sizeof *header);
            header->msg_iov = vector;
            header->msg_iovlen = 2;
            evict();
            long n = call(way, [&] { return sendmsg(pair[0], header, 0); }, SYS_sendmsg, pair[0], (long)header, 0);
            report("sendmsg", way, n, 0);
            std::memset(a, 0, 2000);
            std::memset(b, 0, 3000);
            evict();
            n = call(way, [&] { return recvmsg(pair[1], header, 0); }, SYS_recvmsg, pair[1], (long)header, 0);
            report("recvmsg", way, n, checksum(a, 2000) ^ checksum(b, 3000));
            close(pair[0]);
            close(pair[1]);
            std::free(a);
            std::free(b);
            std::free(vector);
            std::free(header);
        }
        {
            auto* offset = fresh<off_t>(sizeof(off_t));
            *offset = 1000;
            ftruncate(out, 0);
            evict();
            long n = call(way, [&] { return sendfile(out, data, offset, 50000); }, SYS_sendfile, out, data, (long)offset, 50000);
            report("sendfile", way, n, static_cast<std::uint64_t>(*offset));
            auto* in_offset = fresh<loff_t>(sizeof(loff_t));
            auto* out_offset = fresh<loff_t>(sizeof(loff_t));
            *in_offset = 3;
            *out_offset = 0;
            evict();
            n = call(way, [&] { return copy_file_range(data, in_offset, out, out_offset, 40000, 0); }, SYS_copy_file_range,
                data, (long)in_offset, out, (long)out_offset, 40000, 0);
            report("copy_file_range", way, n, static_cast<std::uint64_t>(*in_offset + *out_offset));
            int fds[2];
            pipe(fds);
            *in_offset = 11;
            evict();
            n = call(way, [&] { return splice(data, in_offset, fds[1], nullptr, 30000, 0); }, SYS_splice, data,
                (long)in_offset, fds[1], 0, 30000, 0);
            report("splice", way, n, static_cast<std::uint64_t>(*in_offset));
            close(fds[0]);
            close(fds[1]);
            std::free(offset);
            std::free(in_offset);
            std::free(out_offset);
        }
        {
            char* source = fresh(70000);
            char* target = fresh(70000);
            auto* local = fresh<iovec>(sizeof(iovec));
            auto* remote = fresh<iovec>(sizeof(iovec));
            *local = { target, 70000 };
            *remote = { source, 70000 };
            evict();
            long n = call(way, [&] { return process_vm_readv(getpid(), local, 1, remote, 1, 0); }, SYS_process_vm_readv,
                getpid(), (long)local, 1, (long)remote, 1, 0);
            report("process_vm_readv", way, n, checksum(target, 70000));
            std::free(source);
            std::free(target);
            std::free(local);
            std::free(remote);
        }
        {
            auto* names = fresh<utsname>(sizeof(utsname));
            evict();
            long n = call(way, [&] { return uname(names); }, SYS_uname, (long)names);
            report("uname", way, n, checksum(names->sysname, std::strlen(names->sysname)));
            char* cwd = fresh(4096);
            evict();
            n = call(way, [&] { return getcwd(cwd, 4096) ? 0 : -1; }, SYS_getcwd, (long)cwd, 4096);
            report("getcwd", way, n > 0 ? 0 : n, checksum(cwd, std::strlen(cwd)));
            auto* resolution = fresh<timespec>(sizeof(timespec));
            evict();
            n = call(way, [&] { return clock_getres(CLOCK_MONOTONIC, resolution); }, SYS_clock_getres, CLOCK_MONOTONIC,
                (long)resolution);
            report("clock_getres", way, n, static_cast<std::uint64_t>(resolution->tv_nsec));
            char* random = fresh(64);
            evict();
            n = call(way, [&] { return getrandom(random, 64, 0); }, SYS_getrandom, (long)random, 64, 0);
            report("getrandom", way, n, 0);
            auto* word = fresh<std::uint32_t>(sizeof(std::uint32_t));
            *word = 5;
            evict();
            n = call(way, [&] { return syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0); }, SYS_futex,
                (long)word, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
            report("futex wake", way, n, 0);
            evict();
            n = call(way, [&] { return syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, 4, nullptr, nullptr, 0); }, SYS_futex,
                (long)word, FUTEX_WAIT_PRIVATE, 4, 0, 0, 0);
            report("futex wait", way, n, 0);
            // Memory the kernel keeps using after the call: pinned while it is registered, so
            // that reclaim leaves it in memory (mincore says so natively too).
            auto* head = fresh<long>(3 * sizeof(long));
            head[0] = reinterpret_cast<long>(head);
            head[1] = 0;
            head[2] = 0;
            long* libc_head = nullptr;
            std::size_t libc_length = 0;
            syscall(SYS_get_robust_list, 0, &libc_head, &libc_length);
            n = call(way, [&] { return syscall(SYS_set_robust_list, head, 3 * sizeof(long)); }, SYS_set_robust_list,
                (long)head, 3 * sizeof(long));
            evict();
            unsigned char resident = 0;
            mincore(reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(head) & ~std::uintptr_t { 4095 }), 4096,
                &resident);
            report("set_robust_list", way, n, resident & 1);
            syscall(SYS_set_robust_list, libc_head, libc_length);
            std::free(head);
            std::free(names);
            std::free(cwd);
            std::free(resolution);
            std::free(random);
            std::free(word);
        }
        {
            // Paths and the structures the kernel fills in.
            std::string dir_path = prefix + ".dir";
            char* dir = fresh(dir_path.size() + 1);
            std::memcpy(dir, dir_path.c_str(), dir_path.size() + 1);
            std::string link_path = prefix + ".link";
            char* link = fresh(link_path.size() + 1);
            std::memcpy(link, link_path.c_str(), link_path.size() + 1);
            char* data_name = fresh(data_path.size() + 1);
            std::memcpy(data_name, data_path.c_str(), data_path.size() + 1);
            evict();
            long n = call(way, [&] { return mkdir(dir, 0700); }, SYS_mkdir, (long)dir, 0700);
            report("mkdir", way, n, 0);
            for (const char* name : { "/a", "/bb", "/ccc" })
                close(open((dir_path + name).c_str(), O_CREAT | O_WRONLY, 0600));
            evict();
            n = call(way, [&] { return symlink(data_name, link); }, SYS_symlink, (long)data_name, (long)link);
            report("symlink", way, n, 0);
            char* target = fresh(4096);
            evict();
            n = call(way, [&] { return readlink(link, target, 4096); }, SYS_readlink, (long)link, (long)target, 4096);
            report("readlink", way, n, checksum(target, n > 0 ? static_cast<std::size_t>(n) : 0));
            auto* st = fresh<struct stat>(sizeof(struct stat));
            evict();
            n = call(way, [&] { return stat(link, st); }, SYS_stat, (long)link, (long)st);
            report("stat", way, n, static_cast<std::uint64_t>(st->st_size));
            evict();
            n = call(way, [&] { return lstat(link, st); }, SYS_lstat, (long)link, (long)st);
            report("lstat", way, n, static_cast<std::uint64_t>(S_ISLNK(st->st_mode)));
            evict();
            n = call(way, [&] { return access(link, R_OK); }, SYS_access, (long)link, R_OK);
            report("access", way, n, 0);
            int directory = open(dir_path.c_str(), O_RDONLY | O_DIRECTORY);
            char* entries = fresh(8192);
            evict();
            // Until the end of the directory, as readdir() does: a call may return fewer entries
            // than fit (a signal, or io_uring's task work for vmemu's own I/O, cuts it short).
            std::uint64_t names = 0;
            long total = 0;
            do {
                n = call(way, [&] { return getdents64(directory, entries, 8192); }, SYS_getdents64, directory,
                    (long)entries, 8192);
                // The names, in any order: the inode numbers and offsets are the file system's.
                for (long at = 0; at < n;) {
                    auto* entry = reinterpret_cast<dirent64*>(entries + at);
                    names ^= checksum(entry->d_name, std::strlen(entry->d_name));
                    at += entry->d_reclen;
                }
                total += n > 0 ? n : 0;
            } while (n > 0);
            n = n < 0 ? n : total;
            report("getdents64", way, n > 0 ? 0 : n, names);
            close(directory);
            for (const char* name : { "/a", "/bb", "/ccc" })
                unlink((dir_path + name).c_str());
            evict();
            n = call(way, [&] { return unlink(link); }, SYS_unlink, (long)link);
            report("unlink", way, n, 0);
            evict();
            n = call(way, [&] { return rmdir(dir); }, SYS_rmdir, (long)dir);
            report("rmdir", way, n, 0);
            std::free(dir);
            std::free(link);
            std::free(data_name);
            std::free(target);
            std::free(st);
        }
        {
            // Events, sockets and limits.
            int fds[2];
            pipe(fds);
            write(fds[1], "e", 1);
            int epoll = epoll_create1(0);
            auto* event = fresh<epoll_event>(sizeof(epoll_event));
            event->events = EPOLLIN;
            event->data.u64 = 77;
            evict();
            long n = call(way, [&] { return epoll_ctl(epoll, EPOLL_CTL_ADD, fds[0], event); }, SYS_epoll_ctl, epoll,
                EPOLL_CTL_ADD, fds[0], (long)event);
            report("epoll_ctl", way, n, 0);
            auto* ready = fresh<epoll_event>(4 * sizeof(epoll_event));
            evict();
            n = call(way, [&] { return epoll_wait(epoll, ready, 4, 0); }, SYS_epoll_wait, epoll, (long)ready, 4, 0);
            report("epoll_wait", way, n, ready[0].data.u64);
            auto* readable = fresh<fd_set>(sizeof(fd_set));
            FD_ZERO(readable);
            FD_SET(fds[0], readable);
            auto* zero = fresh<timeval>(sizeof(timeval));
            *zero = { 0, 0 };
            evict();
            n = call(way, [&] { return select(fds[0] + 1, readable, nullptr, nullptr, zero); }, SYS_select, fds[0] + 1,
                (long)readable, 0, 0, (long)zero);
            report("select", way, n, static_cast<std::uint64_t>(FD_ISSET(fds[0], readable) ? 1 : 0));
            close(epoll);
            close(fds[0]);
            close(fds[1]);
            int pair[2];
            socketpair(AF_UNIX, SOCK_DGRAM, 0, pair);
            auto* value = fresh<int>(sizeof(int));
            auto* length = fresh<socklen_t>(sizeof(socklen_t));
            *length = sizeof(int);
            evict();
            n = call(way, [&] { return getsockopt(pair[0], SOL_SOCKET, SO_TYPE, value, length); }, SYS_getsockopt,
                pair[0], SOL_SOCKET, SO_TYPE, (long)value, (long)length);
            report("getsockopt", way, n, static_cast<std::uint64_t>(*value) * 100 + *length);
            auto* address = fresh<sockaddr_storage>(sizeof(sockaddr_storage));
            *length = sizeof(sockaddr_storage);
            evict();
            n = call(way, [&] { return getsockname(pair[0], reinterpret_cast<sockaddr*>(address), length); },
                SYS_getsockname, pair[0], (long)address, (long)length);
            report("getsockname", way, n, static_cast<std::uint64_t>(address->ss_family) * 100 + *length);
            char* datagram = fresh(1500);
            evict();
            n = call(way, [&] { return sendto(pair[0], datagram, 1500, 0, nullptr, 0); }, SYS_sendto, pair[0],
                (long)datagram, 1500, 0, 0, 0);
            report("sendto", way, n, 0);
            std::memset(datagram, 0, 1500);
            evict();
            n = call(way, [&] { return recvfrom(pair[1], datagram, 1500, 0, nullptr, nullptr); }, SYS_recvfrom, pair[1],
                (long)datagram, 1500, 0, 0, 0);
            report("recvfrom", way, n, checksum(datagram, 1500));
            close(pair[0]);
            close(pair[1]);
            auto* limit = fresh<rlimit>(sizeof(rlimit));
            evict();
            n = call(way, [&] { return prlimit(0, RLIMIT_STACK, nullptr, limit); }, SYS_prlimit64, 0, RLIMIT_STACK, 0,
                (long)limit);
            report("prlimit64", way, n, static_cast<std::uint64_t>(limit->rlim_max));
            auto* request = fresh<timespec>(2 * sizeof(timespec));
            request[0] = { 0, 1000 };
            evict();
            n = call(way, [&] { return nanosleep(&request[0], &request[1]); }, SYS_nanosleep, (long)&request[0],
                (long)&request[1]);
            report("nanosleep", way, n, 0);
            std::free(event);
            std::free(ready);
            std::free(readable);
            std::free(zero);
            std::free(value);
            std::free(length);
            std::free(address);
            std::free(datagram);
            std::free(limit);
            std::free(request);
        }
        {
            // A child's status, and a program started with its path, argv and environment in
            // the heap.
            char* shell = fresh(8);
            std::strcpy(shell, "/bin/sh");
            auto** argv = fresh<char*>(4 * sizeof(char*));
            argv[0] = shell;
            argv[1] = fresh(3);
            std::strcpy(argv[1], "-c");
            argv[2] = fresh(16);
            std::strcpy(argv[2], "exit $CODE");
            argv[3] = nullptr;
            auto** envp = fresh<char*>(2 * sizeof(char*));
            envp[0] = fresh(8);
            std::strcpy(envp[0], "CODE=7");
            envp[1] = nullptr;
            std::fflush(stdout);
            pid_t child = fork();
            if (child == 0) {
                evict();
                call(way, [&] { return execve(shell, argv, envp); }, SYS_execve, (long)shell, (long)argv, (long)envp);
                _exit(99);
            }
            auto* status = fresh<int>(sizeof(int));
            evict();
            long n = call(way, [&] { return waitpid(child, status, 0); }, SYS_wait4, child, (long)status, 0, 0);
            report("execve wait4", way, n == child ? 0 : n, static_cast<std::uint64_t>(WEXITSTATUS(*status)));
            std::free(argv[1]);
            std::free(argv[2]);
            std::free(envp[0]);
            std::free(shell);
            std::free(argv);
            std::free(envp);
            std::free(status);
        }
    }
    // A handler that leaves by siglongjmp() the blocking read(2) it interrupted: the calls
    // after it are still the program's, diverted and pinned.
    {
        static sigjmp_buf jump;
        signal(SIGALRM, [](int) { siglongjmp(jump, 1); });
        int fds[2];
        pipe(fds);
        char byte;
        if (sigsetjmp(jump, 1) == 0) {
            itimerval once {};
            once.it_value.tv_usec = 20000;
            setitimer(ITIMER_REAL, &once, nullptr);
            read(fds[0], &byte, 1); // nothing comes: the alarm ends it
        }
        signal(SIGALRM, SIG_DFL);
        close(fds[0]);
        close(fds[1]);
        char* buffer = fresh(kData);
        evict();
        long n = raw_syscall(SYS_pread64, data, (long)buffer, kData, 0);
        report("after siglongjmp", Way::Inline, n, checksum(buffer, kData));
        std::free(buffer);
    }
    // Inside libc: stdio's reads into a buffer of the program's, from libc's own code.
    {
        char* stdio_buffer = fresh(65536);
        FILE* f = std::fopen(data_path.c_str(), "r");
        setvbuf(f, stdio_buffer, _IOFBF, 65536);
        static char line[kData];
        std::size_t total = 0;
        for (int i = 0; i < 8; ++i) {
            evict();
            total += std::fread(line + total, 1, 20000, f);
        }
        report("fread setvbuf", Way::Libc, static_cast<long>(total), checksum(line, total));
        std::fclose(f);
        std::free(stdio_buffer);
    }
    // stdio's writes from a buffer of the program's, flushed by fflush() (whose write the fast
    // entry pins), by fflush(NULL) and by fclose() (whose writes are diverted), each with the
    // buffer swapped out; and a stream of memory, which has no descriptor to write.
    {
        std::string flushed_path = prefix + ".flushed";
        char* stdio_buffer = fresh(65536);
        FILE* f = std::fopen(flushed_path.c_str(), "w");
        setvbuf(f, stdio_buffer, _IOFBF, 65536);
        for (int round = 0; round < 3; ++round) {
            for (int i = 0; i < 2000; ++i)
                std::fprintf(f, "%d:%d ", round, i * 7919);
            evict();
            (void)(round == 0 ? std::fflush(f) : round == 1 ? std::fflush(nullptr) : std::fclose(f));
        }
        std::free(stdio_buffer);
        std::string written;
        char chunk[4096];
        FILE* back = std::fopen(flushed_path.c_str(), "r");
        for (std::size_t got; (got = std::fread(chunk, 1, sizeof chunk, back)) > 0;)
            written.append(chunk, got);
        std::fclose(back);
        report("fflush setvbuf", Way::Libc, static_cast<long>(written.size()), checksum(written.data(), written.size()));
        unlink(flushed_path.c_str());
        char* memory = fresh(4096);
        FILE* m = fmemopen(memory, 4096, "w");
        std::fprintf(m, "in memory %d", 42);
        evict();
        std::fflush(m);
        report("fflush fmemopen", Way::Libc, static_cast<long>(std::strlen(memory)), checksum(memory, std::strlen(memory)));
        std::fclose(m);
        std::free(memory);
    }
    unlink(data_path.c_str());
    unlink(out_path.c_str());
    return 0;
}
