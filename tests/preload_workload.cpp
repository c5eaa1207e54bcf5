// A program to run under `vmemu run`, natively and with few frames, whose output must be the
// same both ways. Each mode exercises one thing the LD_PRELOAD shim must get right:
//   io       write(2), read(2), fwrite() and fread() on heap buffers that have been swapped out
//   calloc   calloc() and fresh large blocks read as zero after earlier data was freed
//   realloc  a block grown by realloc() from 100 bytes to 48 MiB and back keeps its bytes
//   threads  four threads allocate, fill and verify their own blocks while the others do
//   stl      a std::map / std::vector / std::string workload
//   mmap     the program's own anonymous mappings: mmap, mprotect, mincore, mremap, madvise,
//            munmap, and a file mapping beside them, which stays the kernel's
//   handler  the program's own SIGSEGV handler sees its own wild access (in memory of its own)
//   fork     fork() with swapped-out data and a thread writing meanwhile: the child sees the
//            parent's memory as it was at the fork, consistent, and each side's writes stay
//            its own; a grandchild; fork and exec
//   paths    system calls that take paths and small structures in swapped-out heap memory:
//            open, fopen, stat, access, readlink, rename, pipe, poll, sendmsg and recvmsg
//            (with a descriptor passed), nanosleep and others
//   spawn    posix_spawnp() with a file action on a path in the heap, system() and popen(),
//            while 32 MiB of other data keeps the heap swapping
//   wild     a wild access with no handler: death by SIGSEGV
//   badfree  free() of a pointer into the middle of a block: one line and abort(), as glibc
// Prints a digest of what it computed; exits 1 on any mismatch.
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <setjmp.h>
#include <string>
#include <atomic>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <poll.h>
#include <dirent.h>
#include <ctime>
#include <pthread.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace {

constexpr std::size_t kMiB = 1 << 20;

std::uint64_t mix(std::uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

void fill(unsigned char* bytes, std::size_t size, std::uint64_t seed)
{
    for (std::size_t i = 0; i < size; i += 8) {
        std::uint64_t value = mix(seed + i);
        std::memcpy(bytes + i, &value, std::min<std::size_t>(8, size - i));
    }
}

bool check(const unsigned char* bytes, std::size_t size, std::uint64_t seed)
{
    for (std::size_t i = 0; i < size; i += 8) {
        std::uint64_t value = mix(seed + i);
        if (std::memcmp(bytes + i, &value, std::min<std::size_t>(8, size - i)) != 0)
            return false;
    }
    return true;
}

int fail(const char* what)
{
    std::printf("MISMATCH: %s\n", what);
    return 1;
}

// Many blocks, filled, so that most of them are swapped out by the time they are used again.
std::vector<unsigned char*> filled_blocks(std::size_t count, std::size_t size, std::uint64_t seed)
{
    std::vector<unsigned char*> blocks;
    for (std::size_t i = 0; i < count; ++i) {
        blocks.push_back(static_cast<unsigned char*>(std::malloc(size)));
        fill(blocks.back(), size, seed + i * 7919);
    }
    return blocks;
}

int io_mode()
{
    const std::size_t kBlock = 256 * 1024;
    auto blocks = filled_blocks(128, kBlock, 1); // 32 MiB
    char path[] = "/tmp/vmemu-preload-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return fail("mkstemp");
    unlink(path);
    for (unsigned char* block : blocks) {
        if (write(fd, block, kBlock) != static_cast<ssize_t>(kBlock))
            return fail("write(2) from a swapped-out buffer");
    }
    FILE* file = fdopen(dup(fd), "w+");
    for (unsigned char* block : blocks) {
        if (std::fwrite(block, 1, kBlock, file) != kBlock)
            return fail("fwrite() from a swapped-out buffer");
    }
    std::fflush(file);
    auto targets = filled_blocks(128, kBlock, 999); // other data, to be overwritten
    lseek(fd, 0, SEEK_SET);
    for (std::size_t i = 0; i < targets.size(); ++i) {
        if (read(fd, targets[i], kBlock) != static_cast<ssize_t>(kBlock) || !check(targets[i], kBlock, 1 + i * 7919))
            return fail("read(2) into a swapped-out buffer");
    }
    std::fseek(file, static_cast<long>(blocks.size() * kBlock), SEEK_SET);
    for (std::size_t i = 0; i < targets.size(); ++i) {
        if (std::fread(targets[i], 1, kBlock, file) != kBlock || !check(targets[i], kBlock, 1 + i * 7919))
            return fail("fread() into a swapped-out buffer");
    }
    std::fclose(file);
    close(fd);
    std::printf("io: %zu MiB written and read back through write, fwrite, read and fread\n",
        2 * blocks.size() * kBlock / kMiB);
    return 0;
}

int calloc_mode()
{
    // 24 MiB kept alive and written, so that the frames calloc() gets have held other data
    // and some of the memory it gets was swapped out before.
    auto ballast = filled_blocks(384, 64 * 1024, 11);
    for (int round = 0; round < 8; ++round) {
        auto blocks = filled_blocks(64, 100 + round * 1000, 5 + round);
        for (unsigned char* block : blocks)
            std::free(block);
        for (std::size_t size : { std::size_t { 24 }, std::size_t { 1000 }, std::size_t { 8000 }, 3 * kMiB }) {
            auto* zero = static_cast<unsigned char*>(std::calloc(1, size));
            for (std::size_t i = 0; i < size; ++i) {
                if (zero[i] != 0)
                    return fail("calloc memory not zero");
            }
            std::free(zero);
        }
    }
    for (std::size_t i = 0; i < ballast.size(); ++i) {
        if (!check(ballast[i], 64 * 1024, 11 + i * 7919))
            return fail("data beside calloc() changed");
        std::free(ballast[i]);
    }
    std::printf("calloc: zero every time\n");
    return 0;
}

int realloc_mode()
{
    std::size_t size = 100;
    auto* block = static_cast<unsigned char*>(std::malloc(size));
    fill(block, size, 21);
    while (size < 48 * kMiB) {
        std::size_t grown = size * 3 / 2 + 4096;
        block = static_cast<unsigned char*>(std::realloc(block, grown));
        if (!block || !check(block, size, 21))
            return fail("realloc lost bytes while growing");
        fill(block, grown, 21);
        size = grown;
    }
    for (; size > 100; size /= 3) {
        block = static_cast<unsigned char*>(std::realloc(block, size));
        if (!block || !check(block, size, 21))
            return fail("realloc lost bytes while shrinking");
    }
    std::free(block);
    std::printf("realloc: grown to 48 MiB and shrunk back, every byte kept\n");
    return 0;
}

int threads_mode()
{
    std::vector<std::thread> threads;
    std::vector<int> ok(4, 0);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([t, &ok] {
            bool good = true;
            for (int round = 0; round < 6; ++round) {
                auto blocks = filled_blocks(64, 64 * 1024 + t * 100, t * 1000 + round);
                for (std::size_t i = 0; i < blocks.size(); ++i) {
                    good &= check(blocks[i], 64 * 1024 + t * 100, t * 1000 + round + i * 7919);
                    std::free(blocks[i]);
                }
            }
            ok[t] = good;
        });
    }
    for (auto& thread : threads)
        thread.join();
    for (int good : ok) {
        if (!good)
            return fail("a thread's data changed");
    }
    // Blocks made by other threads, checked and freed by this one (frees that cross threads).
    std::vector<std::vector<unsigned char*>> handed(4);
    threads.clear();
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([t, &handed] { handed[t] = filled_blocks(2000, 40 + t * 24, 77 + t); });
    for (auto& thread : threads)
        thread.join();
    for (int t = 0; t < 4; ++t) {
        for (std::size_t i = 0; i < handed[t].size(); ++i) {
            if (!check(handed[t][i], 40 + t * 24, 77 + t + i * 7919))
                return fail("a block handed over by another thread changed");
            std::free(handed[t][i]);
        }
    }
    std::printf("threads: 4 x 6 rounds of 4 MiB verified, and 8000 blocks freed by another thread\n");
    return 0;
}

int stl_mode()
{
    std::map<std::string, std::vector<std::uint64_t>> table;
    for (std::uint64_t i = 0; i < 200000; ++i)
        table["key" + std::to_string(mix(i) % 50000)].push_back(mix(i));
    std::uint64_t digest = 0;
    for (const auto& [key, values] : table) {
        for (std::uint64_t value : values)
            digest = mix(digest ^ value ^ key.size());
    }
    std::printf("stl: %zu keys, digest %016llx\n", table.size(), static_cast<unsigned long long>(digest));
    return 0;
}

int mmap_mode()
{
    const std::size_t kBytes = 32 * kMiB;
    auto* area = static_cast<unsigned char*>(
        mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (area == MAP_FAILED)
        return fail("mmap");
    fill(area, kBytes, 11);
    if (mprotect(area, kMiB, PROT_READ) != 0 || !check(area, kBytes, 11))
        return fail("mprotect");
    std::vector<unsigned char> resident(kBytes / 4096);
    if (mincore(area, kBytes, resident.data()) != 0)
        return fail("mincore");
    // One VMA again: mremap moves a single mapping.
    if (mprotect(area, kMiB, PROT_READ | PROT_WRITE) != 0)
        return fail("mprotect back");
    auto* grown = static_cast<unsigned char*>(mremap(area, kBytes, 2 * kBytes, MREMAP_MAYMOVE));
    if (grown == MAP_FAILED || !check(grown, kBytes, 11))
        return fail("mremap");
    for (std::size_t i = kBytes; i < 2 * kBytes; i += 4096) {
        if (grown[i] != 0)
            return fail("the grown part of a mapping is not zero");
    }
    if (madvise(grown + kBytes - kMiB, kMiB, MADV_DONTNEED) != 0 || grown[kBytes - 1] != 0)
        return fail("madvise(MADV_DONTNEED)");
    char path[] = "/tmp/vmemu-preload-map-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    if (fd < 0 || write(fd, grown, kMiB) != static_cast<ssize_t>(kMiB))
        return fail("writing the file");
    auto* file = static_cast<unsigned char*>(mmap(nullptr, kMiB, PROT_READ, MAP_SHARED, fd, 0));
    if (file == MAP_FAILED || !check(file, kMiB, 11))
        return fail("a file mapping");
    munmap(file, kMiB);
    close(fd);
    if (munmap(grown, 2 * kBytes) != 0)
        return fail("munmap");
    std::printf("mmap: 64 MiB mapped, protected, grown, advised and unmapped\n");
    return 0;
}

sigjmp_buf g_recover;
void on_segv(int, siginfo_t* info, void*)
{
    std::printf("handler: SIGSEGV with si_code %d\n", info->si_code);
    siglongjmp(g_recover, 1);
}

int handler_mode()
{
    void* guard = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    auto blocks = filled_blocks(64, 256 * 1024, 3); // the heap keeps faulting meanwhile
    struct sigaction action {};
    action.sa_sigaction = on_segv;
    action.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &action, nullptr);
    if (sigsetjmp(g_recover, 1) == 0)
        *static_cast<volatile int*>(guard) = 1;
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        if (!check(blocks[i], 256 * 1024, 3 + i * 7919))
            return fail("heap data after the program's handler ran");
    }
    std::printf("handler: the heap is intact\n");
    return 0;
}

// The child's side of fork_mode(): everything as it was at the fork, then changes of its own.
int fork_child_checks(std::vector<unsigned char*>& blocks, std::size_t size, const std::uint64_t* ledger,
    std::size_t ledger_size)
{
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        if (!check(blocks[i], size, 500 + i * 7919))
            return fail("the child's copy of a block differs from the parent's at fork");
    }
    // The writer thread stamps its pass number in ascending order: a copy taken at one
    // instant reads as passes p, ..., p, p - 1, ..., p - 1.
    for (std::size_t j = 1; j < ledger_size; ++j) {
        if (ledger[j] > ledger[j - 1])
            return fail("the child's copy is not the parent's memory at one instant");
    }
    for (std::size_t i = 0; i < blocks.size(); ++i)
        fill(blocks[i], size, 900 + i);
    auto more = filled_blocks(64, 32 * 1024, 4242);
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        if (!check(blocks[i], size, 900 + i))
            return fail("the child's own writes did not stay");
    }
    for (std::size_t i = 0; i < more.size(); ++i) {
        if (!check(more[i], 32 * 1024, 4242 + i * 7919))
            return fail("the child's new blocks changed");
        std::free(more[i]);
    }
    // A grandchild: fork from a child's own machine.
    std::fflush(stdout);
    pid_t grandchild = fork();
    if (grandchild == 0)
        _exit(check(blocks[3], size, 900 + 3) ? 0 : 1);
    int status = 0;
    if (grandchild < 0 || waitpid(grandchild, &status, 0) != grandchild || !WIFEXITED(status)
        || WEXITSTATUS(status) != 0)
        return fail("the grandchild did not see its parent's memory");
    return 0;
}

int fork_mode()
{
    constexpr std::size_t kSize = 64 * 1024;
    auto blocks = filled_blocks(512, kSize, 500); // 32 MiB: most of it swapped out at 8 MiB
    constexpr std::size_t kLedger = 128 * 1024;
    auto* ledger = static_cast<std::uint64_t*>(std::calloc(kLedger, sizeof(std::uint64_t)));
    std::atomic<bool> stop { false };
    std::atomic<std::uint64_t> passes { 0 };
    std::thread writer([&] {
        for (std::uint64_t pass = 1; !stop.load(std::memory_order_relaxed); ++pass) {
            for (std::size_t j = 0; j < kLedger; ++j)
                __atomic_store_n(&ledger[j], pass, __ATOMIC_RELAXED);
            passes.store(pass, std::memory_order_relaxed);
        }
    });
    while (passes.load() < 3)
        std::this_thread::yield();
    std::fflush(stdout);
    pid_t child = fork();
    if (child < 0)
        return fail("fork failed");
    if (child == 0)
        std::exit(fork_child_checks(blocks, kSize, ledger, kLedger));
    stop.store(true);
    writer.join();
    // The parent's writes after the fork are its own.
    for (std::size_t i = 0; i < blocks.size(); i += 2)
        fill(blocks[i], kSize, 700 + i);
    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fail("the child found its memory wrong");
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        if (!check(blocks[i], kSize, i % 2 ? 500 + i * 7919 : 700 + i))
            return fail("the parent's memory changed under the child");
    }
    // Children that exit at once, and one that execs.
    for (int round = 0; round < 20; ++round) {
        pid_t quick = fork();
        if (quick == 0)
            _exit(check(blocks[round], kSize, round % 2 ? 500 + round * 7919 : 700 + round) ? 0 : 1);
        if (quick < 0 || waitpid(quick, &status, 0) != quick || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return fail("a short-lived child found its memory wrong");
    }
    std::fflush(stdout);
    pid_t exec_child = fork();
    if (exec_child == 0) {
        execl("/bin/sh", "sh", "-c", "echo fork: exec of a child runs", static_cast<char*>(nullptr));
        _exit(127);
    }
    if (exec_child < 0 || waitpid(exec_child, &status, 0) != exec_child || !WIFEXITED(status)
        || WEXITSTATUS(status) != 0)
        return fail("the child that execs failed");
    // execlp() and execle(), with the arguments and the environment in emulated memory.
    std::string word(4000, 'w');
    std::string variable = "FORK_MODE_WORD=" + std::string(3000, 'v');
    char* environment[] = { variable.data(), nullptr };
    for (int which = 0; which < 2; ++which) {
        std::fflush(stdout);
        pid_t child_exec = fork();
        if (child_exec == 0) {
            if (which == 0)
                execlp("sh", "sh", "-c", "echo fork: execlp with an argument of ${#1} bytes", "sh", word.c_str(),
                    static_cast<char*>(nullptr));
            else
                execle("/bin/sh", "sh", "-c", "echo fork: execle with a variable of ${#FORK_MODE_WORD} bytes",
                    static_cast<char*>(nullptr), environment);
            _exit(127);
        }
        if (child_exec < 0 || waitpid(child_exec, &status, 0) != child_exec || !WIFEXITED(status)
            || WEXITSTATUS(status) != 0)
            return fail("execlp or execle failed");
    }
    for (unsigned char* block : blocks)
        std::free(block);
    std::free(ledger);
    std::printf("fork: 32 MiB and a ledger written during the fork, seen whole by the child, a grandchild "
                "and 20 more; each side's writes its own\n");
    return 0;
}

int paths_mode()
{
    // Paths and structures in heap blocks scattered among 24 MiB of others, which the program
    // writes again between the calls, so that at 8 MiB of frames the calls' own blocks have
    // mostly been swapped out or taken out of the kernel's view when the calls run.
    char directory_template[] = "/tmp/vmemu-paths-XXXXXX";
    if (!mkdtemp(directory_template))
        return fail("mkdtemp");
    std::string directory = directory_template;
    auto ballast = filled_blocks(384, 64 * 1024, 21);
    std::vector<std::string*> names;
    for (int i = 0; i < 64; ++i)
        names.push_back(new std::string(directory + "/file-" + std::to_string(i) + std::string(200, 'x')));
    std::uint64_t checks = 0;
    for (int round = 0; round < 4; ++round) {
        for (std::size_t b = 0; b < ballast.size(); ++b)
            fill(ballast[b], 64 * 1024, 21 + b * 7919 + round);
        for (int i = 0; i < 64; ++i) {
            const char* name = names[i]->c_str();
            int fd = open(name, O_CREAT | O_WRONLY | O_TRUNC, 0600);
            if (fd < 0)
                return fail("open of a path in the heap");
            auto* text = static_cast<char*>(std::malloc(64));
            int length = std::snprintf(text, 64, "round %d file %d\n", round, i);
            if (write(fd, text, static_cast<std::size_t>(length)) != length)
                return fail("write");
            close(fd);
            std::free(text);
            auto* status = static_cast<struct stat*>(std::malloc(sizeof(struct stat)));
            if (stat(name, status) != 0 || status->st_size != length || lstat(name, status) != 0)
                return fail("stat of a path in the heap");
            std::free(status);
            if (access(name, R_OK | W_OK) != 0)
                return fail("access");
            FILE* file = std::fopen(name, "r");
            if (!file)
                return fail("fopen of a path in the heap");
            std::fclose(file);
            std::string renamed = *names[i] + ".moved";
            if (rename(name, renamed.c_str()) != 0 || rename(renamed.c_str(), name) != 0)
                return fail("rename");
            checks += 6;
        }
        auto* fds = static_cast<int*>(std::malloc(2 * sizeof(int)));
        if (pipe(fds) != 0)
            return fail("pipe");
        auto* poller = static_cast<pollfd*>(std::malloc(sizeof(pollfd)));
        *poller = pollfd { fds[1], POLLOUT, 0 };
        if (poll(poller, 1, 1000) != 1 || !(poller->revents & POLLOUT))
            return fail("poll");
        close(fds[0]);
        close(fds[1]);
        std::free(fds);
        std::free(poller);
        // sendmsg() and recvmsg() with their header, buffers and an SCM_RIGHTS message in the heap.
        auto* pair = static_cast<int*>(std::malloc(2 * sizeof(int)));
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0)
            return fail("socketpair");
        auto* payload = static_cast<char*>(std::malloc(3000));
        std::memset(payload, 'p', 3000);
        auto* out_vector = static_cast<iovec*>(std::malloc(sizeof(iovec)));
        *out_vector = iovec { payload, 3000 };
        auto* control = static_cast<char*>(std::malloc(CMSG_SPACE(sizeof(int))));
        std::memset(control, 0, CMSG_SPACE(sizeof(int)));
        auto* out_message = static_cast<msghdr*>(std::calloc(1, sizeof(msghdr)));
        out_message->msg_iov = out_vector;
        out_message->msg_iovlen = 1;
        out_message->msg_control = control;
        out_message->msg_controllen = CMSG_SPACE(sizeof(int));
        cmsghdr* rights = CMSG_FIRSTHDR(out_message);
        rights->cmsg_level = SOL_SOCKET;
        rights->cmsg_type = SCM_RIGHTS;
        rights->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(rights), &pair[0], sizeof(int));
        for (std::size_t b = 0; b < ballast.size(); b += 2)
            fill(ballast[b], 64 * 1024, 99 + b);
        if (sendmsg(pair[1], out_message, 0) != 3000)
            return fail("sendmsg from the heap");
        auto* received = static_cast<char*>(std::malloc(3000));
        auto* in_vector = static_cast<iovec*>(std::malloc(sizeof(iovec)));
        *in_vector = iovec { received, 3000 };
        auto* in_control = static_cast<char*>(std::malloc(CMSG_SPACE(sizeof(int))));
        auto* in_message = static_cast<msghdr*>(std::calloc(1, sizeof(msghdr)));
        in_message->msg_iov = in_vector;
        in_message->msg_iovlen = 1;
        in_message->msg_control = in_control;
        in_message->msg_controllen = CMSG_SPACE(sizeof(int));
        ssize_t got = 0;
        while (got < 3000) {
            in_vector->iov_base = received + got;
            in_vector->iov_len = static_cast<std::size_t>(3000 - got);
            ssize_t n = recvmsg(pair[0], in_message, 0);
            if (n <= 0)
                return fail("recvmsg into the heap");
            got += n;
        }
        cmsghdr* passed = CMSG_FIRSTHDR(in_message);
        int passed_fd = -1;
        if (passed && passed->cmsg_type == SCM_RIGHTS)
            std::memcpy(&passed_fd, CMSG_DATA(passed), sizeof(int));
        if (std::memcmp(received, payload, 3000) != 0 || passed_fd < 0)
            return fail("sendmsg and recvmsg lost data or the descriptor");
        close(passed_fd);
        close(pair[0]);
        close(pair[1]);
        for (void* block : { static_cast<void*>(pair), static_cast<void*>(payload), static_cast<void*>(out_vector),
                 static_cast<void*>(control), static_cast<void*>(out_message), static_cast<void*>(received),
                 static_cast<void*>(in_vector), static_cast<void*>(in_control), static_cast<void*>(in_message) })
            std::free(block);
        checks += 2;
        auto* pause = static_cast<timespec*>(std::malloc(sizeof(timespec)));
        *pause = timespec { 0, 1000 };
        if (nanosleep(pause, nullptr) != 0)
            return fail("nanosleep");
        std::free(pause);
        checks += 3;
    }
    std::string link = directory + "/link";
    if (symlink(names[0]->c_str(), link.c_str()) != 0)
        return fail("symlink");
    auto* target = static_cast<char*>(std::malloc(4096));
    ssize_t length = readlink(link.c_str(), target, 4096);
    if (length != static_cast<ssize_t>(names[0]->size()) || std::memcmp(target, names[0]->c_str(), length) != 0)
        return fail("readlink");
    std::free(target);
    DIR* listing = opendir(directory.c_str());
    if (!listing)
        return fail("opendir");
    std::size_t entries = 0;
    while (readdir(listing))
        ++entries;
    closedir(listing);
    unlink(link.c_str());
    for (std::string* name : names) {
        if (unlink(name->c_str()) != 0)
            return fail("unlink");
        delete name;
    }
    if (rmdir(directory.c_str()) != 0)
        return fail("rmdir");
    for (unsigned char* block : ballast)
        std::free(block);
    std::printf("paths: %llu calls on paths and structures in the heap, %zu directory entries\n",
        static_cast<unsigned long long>(checks), entries);
    return 0;
}

int spawn_mode()
{
    char directory_template[] = "/tmp/vmemu-spawn-XXXXXX";
    if (!mkdtemp(directory_template))
        return fail("mkdtemp");
    auto ballast = filled_blocks(512, 64 * 1024, 31);
    auto* target = new std::string(std::string(directory_template) + "/out-" + std::string(100, 'x'));
    auto* word = new std::string(std::string(2000, 'w'));
    for (int round = 0; round < 10; ++round) {
        for (std::size_t b = 0; b < ballast.size(); ++b)
            fill(ballast[b], 64 * 1024, 31 + b * 7919 + round);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 1, target->c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        char* argv[] = { const_cast<char*>("echo"), word->data(), nullptr };
        pid_t pid = 0;
        int status = 0;
        if (posix_spawnp(&pid, "echo", &actions, nullptr, argv, environ) != 0 || waitpid(pid, &status, 0) != pid
            || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return fail("posix_spawnp");
        posix_spawn_file_actions_destroy(&actions);
        struct stat written {};
        if (stat(target->c_str(), &written) != 0 || written.st_size != 2001)
            return fail("the spawned program's output");
    }
    std::string command = "test $(cat '" + *target + "' | wc -c) = 2001";
    if (std::system(command.c_str()) != 0)
        return fail("system");
    FILE* pipe = popen(("wc -c < '" + *target + "'").c_str(), "r");
    char count[32] = {};
    if (!pipe || !std::fgets(count, sizeof count, pipe) || pclose(pipe) != 0 || std::atoi(count) != 2001)
        return fail("popen");
    unlink(target->c_str());
    rmdir(directory_template);
    for (std::size_t b = 0; b < ballast.size(); ++b) {
        if (!check(ballast[b], 64 * 1024, 31 + b * 7919 + 9))
            return fail("data beside the spawns changed");
        std::free(ballast[b]);
    }
    delete target;
    delete word;
    std::printf("spawn: 10 posix_spawnp with a file action, system and popen, all on strings in the heap\n");
    return 0;
}

int badfree_mode()
{
    auto* block = static_cast<char*>(std::malloc(100));
    char* volatile middle = block + 8; // a bug on purpose, hidden from the compiler's warning
    std::free(middle);
    return 0;
}

int wild_mode()
{
    std::fflush(stdout);
    void* guard = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *static_cast<volatile int*>(guard) = 1;
    return 0;
}

// A thread that blocks SIGSEGV and SIGBUS, as Ruby does while it sets up its handlers and as
// liblzma starts its worker threads with every signal blocked, then uses memory: natively
// nothing happens, and under vmemu its faults must still be served. The mask reads back as set.
int sigmask_mode()
{
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0)
        return fail("pthread_sigmask");
    std::vector<int> ok(2, 0);
    // All three working sets live at once (12 MiB), so that reclaim runs whatever the order
    // the threads are scheduled in.
    std::atomic<int> filled { 0 };
    auto wait_for_all = [&filled] {
        filled.fetch_add(1);
        while (filled.load() < 3)
            std::this_thread::yield();
    };
    std::vector<std::thread> threads; // made with every signal blocked
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([t, &ok, &wait_for_all] {
            auto blocks = filled_blocks(64, 64 * 1024, 500 + t);
            wait_for_all();
            bool good = true;
            for (std::size_t i = 0; i < blocks.size(); ++i) {
                good &= check(blocks[i], 64 * 1024, 500 + t + i * 7919);
                std::free(blocks[i]);
            }
            ok[t] = good;
        });
    }
    auto blocks = filled_blocks(64, 64 * 1024, 900);
    wait_for_all();
    for (auto& thread : threads)
        thread.join();
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        if (!check(blocks[i], 64 * 1024, 900 + i * 7919))
            return fail("the blocking thread's data changed");
        std::free(blocks[i]);
    }
    if (!ok[0] || !ok[1])
        return fail("a thread's data changed");
    sigset_t seen;
    if (pthread_sigmask(SIG_SETMASK, &old, &seen) != 0 || sigismember(&seen, SIGSEGV) != 1
        || sigismember(&seen, SIGBUS) != 1 || sigismember(&seen, SIGUSR1) != 1)
        return fail("the mask does not read back as set");
    sigset_t segv;
    sigemptyset(&segv);
    sigaddset(&segv, SIGSEGV);
    if (sigprocmask(SIG_BLOCK, &segv, nullptr) != 0 || sigprocmask(SIG_UNBLOCK, &segv, &seen) != 0
        || sigismember(&seen, SIGSEGV) != 1 || sigismember(&seen, SIGBUS) != 0)
        return fail("sigprocmask does not read back what was blocked");
    if (sigprocmask(42, &segv, nullptr) != -1 || errno != EINVAL)
        return fail("sigprocmask takes a bad how");
    std::printf("sigmask: 3 x 4 MiB verified with SIGSEGV and SIGBUS blocked, and the masks read back\n");
    return 0;
}

// Mutexes in heap pages that reclaim takes away, contended by four threads: glibc makes the
// futex(2) calls inline, where no wrapper of vmemu's reaches, and aborts on any EFAULT. Each
// thread holds a lock while it writes a few pages of its own 4 MiB, so that the others wait
// in the kernel, and the mutexes' pages go cold in between.
// With --syscall-guard off, about one run in four to eight with 8 MiB of frames ends in glibc's
// "The futex facility returned an unexpected error code", on both views; the system-call
// boundary (fault/syscall_user_dispatch.hpp) pins the futex word for each of those calls.
int mutex_mode()
{
    struct alignas(64) Guarded {
        pthread_mutex_t lock;
        long value;
    };
    constexpr int kObjects = 64;
    constexpr int kThreads = 4;
    constexpr long kRounds = 20000;
    std::vector<Guarded*> objects;
    for (int i = 0; i < kObjects; ++i) {
        // One page each, so that reclaim takes them one by one.
        auto* object = static_cast<Guarded*>(std::aligned_alloc(4096, 4096));
        pthread_mutex_init(&object->lock, nullptr);
        object->value = 0;
        objects.push_back(object);
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([t, &objects] {
            constexpr std::size_t kOwn = 4 << 20;
            auto* own = static_cast<unsigned char*>(std::malloc(kOwn));
            unsigned seed = 17u + static_cast<unsigned>(t);
            for (long round = 0; round < kRounds; ++round) {
                seed = seed * 1103515245u + 12345u;
                Guarded* object = objects[(seed >> 8) % kObjects];
                pthread_mutex_lock(&object->lock);
                ++object->value;
                for (int k = 0; k < 4; ++k)
                    own[((round * 4 + k) * 4096) % kOwn] = static_cast<unsigned char>(round);
                pthread_mutex_unlock(&object->lock);
            }
            std::free(own);
        });
    }
    for (auto& thread : threads)
        thread.join();
    long total = 0;
    for (Guarded* object : objects) {
        total += object->value;
        pthread_mutex_destroy(&object->lock);
        std::free(object);
    }
    if (total != kThreads * kRounds)
        return fail("a locked increment was lost");
    std::printf("mutex: %ld locked increments on %d heap mutexes by %d threads\n", total, kObjects, kThreads);
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    struct Mode {
        const char* name;
        int (*run)();
    };
    static constexpr Mode kModes[] = { { "io", io_mode }, { "calloc", calloc_mode }, { "realloc", realloc_mode },
        { "threads", threads_mode }, { "stl", stl_mode }, { "mmap", mmap_mode }, { "handler", handler_mode },
        { "wild", wild_mode }, { "badfree", badfree_mode }, { "fork", fork_mode }, { "paths", paths_mode }, { "spawn", spawn_mode },
        { "sigmask", sigmask_mode }, { "mutex", mutex_mode } };
    std::string wanted = argc > 1 ? argv[1] : "";
    for (const Mode& mode : kModes) {
        if (wanted == mode.name)
            return mode.run();
    }
    std::fprintf(stderr, "usage: preload_workload MODE, one of:");
    for (const Mode& mode : kModes)
        std::fprintf(stderr, " %s", mode.name);
    std::fprintf(stderr, "\n");
    return 2;
}
