#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <sys/uio.h>
#include <utility>
#include <vector>
#include <vmemu/os/signals.hpp>

namespace vmemu {

class Inode;
class Machine;
struct PageFrame;

// read(2), write(2) and fsync(2) of a file that vmemu maps, kept coherent with its page cache.
// vmemu's cache sits beside the kernel's, which the system calls use: so a write(2) reaches
// the file through the kernel and the cached pages of its range take its bytes too, and the
// dirty pages of a range reach the file before a read(2) or fsync(2) looks at it. (In Linux
// both go through the one page cache: generic_perform_write(), filemap_write_and_wait_range().)
// The data is in the file as soon as write(2) returns, as it is in the kernel's page cache:
// the death of the process loses none of it.

// A write(2) of [offset, offset + bytes) to the file fd names. Construct it and lock_range()
// before the kernel's write, and commit() what the kernel wrote; with no effect when vmemu
// does not map the file (active() says which, after one fstat).
// - The cached pages of the range are locked, in index order, with no write of theirs in
//   flight, from before the kernel's write to the end of the commit: no write-back of their
//   old bytes can land after the new ones, and no fault maps them half written.
// - A page that comes into the cache meanwhile (its read may have seen the file before the
//   write) takes the bytes at the commit too, and is marked dirty, so that it reaches the
//   file again as it is now.
// The buffers must not be emulated memory that the write's own pages map (the shim pins them
// first), and the write must not wait on a fault of vmemu's. The program's asynchronous
// signals wait while pages are locked, as its handlers may touch them.
class CachedWrite {
public:
    CachedWrite(Machine& machine, int fd);
    CachedWrite(Machine& machine, int fd, std::uint64_t offset, std::size_t bytes)
        : CachedWrite(machine, fd)
    {
        lock_range(offset, bytes);
    }
    ~CachedWrite();
    CachedWrite(const CachedWrite&) = delete;
    CachedWrite& operator=(const CachedWrite&) = delete;

    bool active() const { return m_inode != nullptr; }
    // Locks the cached pages of the range the write is to land in.
    void lock_range(std::uint64_t offset, std::size_t bytes);
    // The kernel wrote `written` bytes of vector[0, count) at offset (which may differ from the
    // constructor's: an O_APPEND write lands at the end of the file). The cached pages of the
    // range take them, and the file's size is read again if it grew.
    void commit(const iovec* vector, int count, std::uint64_t offset, std::size_t written);

private:
    struct Locked {
        std::uint64_t index;
        PageFrame* page;
    };
    PageFrame* lock_cached(std::uint64_t index);
    void unlock(PageFrame& page);

    Machine& m_machine;
    std::optional<os::ScopedAsyncSignalBlock> m_signals;
    Inode* m_inode { nullptr };
    std::vector<Locked> m_locked; // by index
};

// filemap_write_and_wait_range() of the file fd names, for [offset, offset + bytes): its dirty
// pages are written and waited for. Returns 0, or EIO when a page could not be written (it
// stays dirty). 0 at once when vmemu does not map the file or no page of it is dirty.
int write_and_wait_cached_range(Machine& machine, int fd, std::uint64_t offset, std::uint64_t bytes);

// The same for every file vmemu maps: sync(2), and the exit of the process.
void write_and_wait_all_cached(Machine& machine);

} // namespace vmemu
