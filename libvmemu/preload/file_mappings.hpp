#pragma once
// The program's file mappings in vmemu's page cache, and the system calls that must see the
// same bytes as the mappings: read(2) and write(2) of a mapped file, fsync(2), ftruncate(2),
// sync(2) and the exit of the process (file_mappings.cpp, and the wrappers of user_buffers.cpp).
// vmemu's page cache is this process's alone, beside the kernel's: other processes that map or
// write the same file do not share it. So files whose mappings are for sharing memory
// (tmpfs, memfd, hugetlbfs) and files of pseudo file systems stay with the kernel.
#include <cerrno>
#include <cstdint>
#include <fcntl.h>
#include <optional>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>
#include <vmemu/fs/read_write.hpp>
#include <vmemu/fs/inode_cache.hpp>
#include "libc_heap.hpp"
#include "runtime.hpp"
#include "user_call.hpp"

namespace vmemu::preload {

// mmap(2) of fd with prot and flags is one vmemu serves: a readable, not executable, shared or
// private mapping of a regular file on a disk file system.
bool serves_file_mapping(int prot, int flags, int fd);

// truncate(2) of path (out of emulated memory) through vmemu's page cache, when vmemu maps
// the file: the call's result; std::nullopt when the kernel's call is the whole of it.
std::optional<int> truncate_mapped_file(const char* path, off_t length, const void* caller);

// sync(2) of every file vmemu maps: for sync(2), _exit(2) and the end of the process.
void write_back_all_files();

// The machine of a call on fd from caller, when vmemu maps some file; nullptr, at the cost of
// one load, when it maps none.
inline Machine* machine_with_files(const void* caller)
{
    Runtime* state = runtime_for(caller);
    if (!state || state->machine->inodes().in_use() == 0)
        return nullptr;
    return state->machine.get();
}

// Before a read(2) of the file fd(): its dirty pages in vmemu's cache reach the file. Nothing,
// not even fd(), while no file page is dirty or being written.
template<typename Fd>
void write_back_before_read(Fd fd, const void* caller)
{
    Machine* machine = machine_with_files(caller);
    if (!machine || (machine->stat().value(VmStatItem::NrDirty) == 0
            && machine->stat().value(VmStatItem::NrWriteback) == 0))
        return;
    int saved = errno;
    ScopedLibcAllocations libc_allocations;
    write_and_wait_cached_range(*machine, fd(), 0, ~std::uint64_t { 0 } >> 1);
    errno = saved;
}

// A write(2) of vector[0, count) to fd at offset (the file position when there is none), by
// write() of the kernel, with the cached pages of the file taking the bytes written.
// - With O_APPEND the kernel writes at the end of the file, even for pwrite(2): the bytes
//   landed at the size after the write, less what was written.
// - Without, a write(2) lands at the file position it starts from. (Another thread or process
//   that moves a shared position at the same moment leaves the cache to the position read.)
// The vector is copied first: reading the program's array, in emulated memory, may fault,
// which it must not do while pages are locked.
template<typename Write>
ssize_t write_through_cache(int fd, std::optional<off_t> offset, const iovec* vector, int count, const void* caller,
    Write write)
{
    Machine* machine = machine_with_files(caller);
    if (!machine || count <= 0 || count > static_cast<int>(kMaxVectors))
        return write();
    int saved = errno;
    ScopedLibcAllocations libc_allocations;
    // First whether fd is a file vmemu maps at all (one fstat): a pipe, a socket, another
    // file, a bad descriptor are the kernel's alone.
    CachedWrite cached(*machine, fd);
    if (!cached.active()) {
        errno = saved;
        return write();
    }
    iovec copy[kMaxVectors];
    std::size_t bytes = 0;
    for (int i = 0; i < count; ++i) {
        copy[i] = vector[i];
        bytes += copy[i].iov_len;
    }
    int status = ::fcntl(fd, F_GETFL);
    bool append = status >= 0 && (status & O_APPEND);
    off_t start = offset && !append ? *offset : ::lseek(fd, 0, append ? SEEK_END : SEEK_CUR);
    errno = saved;
    if (start >= 0)
        cached.lock_range(static_cast<std::uint64_t>(start), bytes);
    ssize_t written = write();
    if (written > 0 && start >= 0) {
        saved = errno;
        struct stat st;
        if (append)
            start = ::fstat(fd, &st) == 0 ? st.st_size - written : -1;
        if (start >= 0)
            cached.commit(copy, count, static_cast<std::uint64_t>(start), static_cast<std::size_t>(written));
        errno = saved;
    }
    return written;
}

} // namespace vmemu::preload
