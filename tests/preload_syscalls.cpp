// The system-call boundary, table-driven: each system call of the table below is made with its
// memory in the heap (emulated under vmemu) just pushed out of memory, three ways: through
// the libc function, through syscall(), and with an inline syscall instruction; and for stdio
// and a futex, from inside libc. Each case prints its result and a checksum of the bytes the
// kernel wrote, which run_preloaded.sh compares with a native run's.
#include <cerrno>
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
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

namespace {

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

constexpr std::size_t kEvictBytes = std::size_t { 24 } << 20;
char* g_evict;

// Writes more memory than vmemu's frames hold, so that the buffers touched before are swapped out.
void evict()
{
    static unsigned char round;
    ++round;
    for (std::size_t i = 0; i < kEvictBytes; i += 4096)
        g_evict[i] = static_cast<char>(round);
}

std::uint64_t checksum(const void* data, std::size_t bytes)
{
    std::uint64_t hash = 1469598103934665603ull;
    for (std::size_t i = 0; i < bytes; ++i)
        hash = (hash ^ static_cast<const unsigned char*>(data)[i]) * 1099511628211ull;
    return hash;
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
    g_evict = static_cast<char*>(std::malloc(kEvictBytes));
    std::memset(g_evict, 1, kEvictBytes);
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
    unlink(data_path.c_str());
    unlink(out_path.c_str());
    return 0;
}
