// The program's file mappings (file_mappings.hpp): which ones vmemu serves, and the calls on
// files that must see its page cache: ftruncate(2) and truncate(2) (whose wrapper
// is kernel_arguments.cpp's, which copies the path first), fsync(2),
// fdatasync(2), sync(2) and syncfs(2), and the end of the process, normal or by _exit(2).
#include <cerrno>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <vmemu/fs/inode.hpp>
#include "file_mappings.hpp"

namespace vmemu::preload {

bool serves_file_mapping(int prot, int flags, int fd)
{
    constexpr int kServedFlags = MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_NORESERVE
        | MAP_POPULATE;
    int type = flags & MAP_TYPE;
    if ((flags & MAP_ANONYMOUS) || (type != MAP_SHARED && type != MAP_PRIVATE) || (flags & ~kServedFlags)
        || (prot & PROT_EXEC) || !(prot & PROT_READ))
        return false;
    struct stat st;
    struct statfs fs;
    // Anything else (a bad fd among them) gets the kernel's answer.
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || ::fstatfs(fd, &fs) != 0)
        return false;
    switch (fs.f_type) {
    case TMPFS_MAGIC:
    case HUGETLBFS_MAGIC:
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case DEBUGFS_MAGIC:
    case TRACEFS_MAGIC:
    case SECURITYFS_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
    case BPF_FS_MAGIC:
        return false;
    default:
        return true;
    }
}

namespace {

// fsync(2) and the like: the dirty pages first, then the kernel's call. A page vmemu could
// not write is the call's EIO, as Linux reports a writeback error to fsync().
template<typename Real>
int sync_file(int fd, const void* caller, Real real)
{
    int error = 0;
    if (Machine* machine = machine_with_files(caller)) {
        ScopedLibcAllocations libc_allocations;
        error = write_and_wait_cached_range(*machine, fd, 0, ~std::uint64_t { 0 } >> 1);
    }
    int result = real();
    if (result == 0 && error != 0) {
        errno = error;
        return -1;
    }
    return result;
}

void write_back_everything(const void* caller)
{
    if (runtime_for(caller))
        write_back_all_files();
}

} // namespace

std::optional<int> truncate_mapped_file(const char* path, off_t length, const void* caller)
{
    Machine* machine = machine_with_files(caller);
    if (!machine)
        return std::nullopt;
    ScopedLibcAllocations libc_allocations;
    struct stat st;
    if (::stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return std::nullopt;
    Inode* inode = machine->inodes().find(st.st_dev, st.st_ino);
    if (!inode)
        return std::nullopt;
    machine->inodes().put(*inode);
    int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    auto done = machine->truncate(fd, length);
    ::close(fd);
    if (!done) {
        errno = done.error().code();
        return -1;
    }
    return 0;
}

void write_back_all_files()
{
    Runtime* state = runtime();
    // Not from a vfork() child, which runs on its parent's memory and threads.
    if (!state || state->machine->inodes().in_use() == 0 || getpid() != state->pid)
        return;
    ScopedLibcAllocations libc_allocations;
    write_and_wait_all_cached(*state->machine);
}

} // namespace vmemu::preload

using namespace vmemu;
using namespace vmemu::preload;

#define VMEMU_CALLER __builtin_return_address(0)

extern "C" {

int ftruncate(int fd, off_t length)
{
    static auto real = next_symbol<int (*)(int, off_t)>("ftruncate");
    Machine* machine = machine_with_files(VMEMU_CALLER);
    if (!machine)
        return real(fd, length);
    ScopedLibcAllocations libc_allocations;
    auto done = machine->truncate(fd, length);
    if (!done) {
        errno = done.error().code();
        return -1;
    }
    return 0;
}
int ftruncate64(int fd, off_t length) { return ftruncate(fd, length); }


int fsync(int fd)
{
    static auto real = next_symbol<int (*)(int)>("fsync");
    return sync_file(fd, VMEMU_CALLER, [&] { return real(fd); });
}

int fdatasync(int fd)
{
    static auto real = next_symbol<int (*)(int)>("fdatasync");
    return sync_file(fd, VMEMU_CALLER, [&] { return real(fd); });
}

void sync()
{
    static auto real = next_symbol<void (*)()>("sync");
    write_back_everything(VMEMU_CALLER);
    real();
}

int syncfs(int fd)
{
    static auto real = next_symbol<int (*)(int)>("syncfs");
    write_back_everything(VMEMU_CALLER);
    return real(fd);
}

// exit() runs the shim's destructor, which writes the dirty pages back, the trace and the
// statistics, and removes the stats segment of vmemu top; _exit() does not, so it does the same
// here (dash ends that way). (A child of vfork() shares the parent's runtime: its pid is not
// the runtime's, and the files and the segment are the parent's.)
void _exit(int status)
{
    static auto real = next_symbol<void (*)(int)>("_exit");
    write_back_everything(VMEMU_CALLER);
    if (Runtime* state = runtime(); state && state->pid == getpid()) {
        write_outputs();
        state->machine->stop_publishing_stats();
    }
    real(status);
    __builtin_unreachable();
}

void _Exit(int status) { _exit(status); }

} // extern "C"
