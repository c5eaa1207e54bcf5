// What a shared file-descriptor table costs a system call that takes a descriptor: fstat(2) on
// one descriptor 2,000,000 times, in a process alone, beside one idle thread (which shares the
// table, as vmemu's helper threads do), and beside one idle thread that unshare(CLONE_FILES)d
// its own copy. The kernel's fdget() takes no reference on the file when the table is not
// shared. Not built by CMake:
//   gcc -O2 -pthread bench/fd_table_probe.c -o /tmp/fd_table_probe && /tmp/fd_table_probe
// and under vmemu, whose helper threads share the program's table:
//   build/release/libvmemu/cli/vmemu run --syscall-guard off -- /tmp/fd_table_probe alone
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { kCalls = 2000000 };

static void* idle(void* unshared)
{
    if (unshared)
        unshare(CLONE_FILES);
    pause();
    return NULL;
}

static double seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

// The ns a call of fstat takes in a child process of the given shape.
static double measure(const char* shape)
{
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0)
        return -1;
    pid_t child = fork();
    if (child == 0) {
        pthread_t thread;
        if (strcmp(shape, "alone") != 0)
            pthread_create(&thread, NULL, idle, strcmp(shape, "unshared") == 0 ? (void*)1 : NULL);
        usleep(20000);
        int fd = open("/proc/self/exe", O_RDONLY);
        struct stat status;
        double start = seconds();
        for (int i = 0; i < kCalls; ++i)
            fstat(fd, &status);
        double ns = (seconds() - start) / kCalls * 1e9;
        (void)!write(pipe_fds[1], &ns, sizeof ns);
        _exit(0);
    }
    double ns = -1;
    (void)!read(pipe_fds[0], &ns, sizeof ns);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return ns;
}

int main(int argc, char** argv)
{
    const char* shapes[] = { "alone", "shared", "unshared" };
    for (int i = 0; i < 3; ++i) {
        if (argc > 1 && strcmp(argv[1], shapes[i]) != 0)
            continue;
        printf("fstat, %-8s %6.0f ns a call\n", shapes[i], measure(shapes[i]));
    }
    return 0;
}
