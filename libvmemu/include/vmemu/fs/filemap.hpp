#pragma once
#include <cstdint>
#include <vmemu/mm/fault_result.hpp>

namespace vmemu {

class Inode;
class Machine;
struct PageFrame;

// The read side of the page cache (mm/filemap.c and mm/readahead.c): finding a file page for
// a fault, and reading pages in on demand.
// Readahead follows Linux's on-demand design, with the state in the Inode (file_ra_state):
// - a miss reads a synchronous window around the faulting page (read-around, kRaPages),
//   or just the page under MADV_RANDOM, or a window from the page under MADV_SEQUENTIAL;
//   after many misses with no hit (mmap_miss) it stops reading around;
// - the first page of the window's last async_size pages gets PG_readahead, and a fault
//   that finds that marker starts the next window, twice as large up to the maximum, without
//   waiting for it.
// Everything here is async-signal-safe: frames come from the buddy allocator, I/O from FileIo.

// What filemap_fault() found: the page (uptodate, with a reference) or the fault's outcome.
struct FilemapFault {
    PageFrame* page { nullptr };
    FaultResult result { FaultResult::Handled };
};

inline constexpr std::uint32_t kRaPages = 32;    // read_ahead_kb 128
inline constexpr std::uint32_t kMmapLotsAMiss = 100;

// filemap_fault(): the page at index of inode, for a fault in a VMA with vm_flags. SigBus past
// the end of the file, IoError when the read fails, OutOfMemory without a frame.
FilemapFault filemap_fault(Machine& machine, Inode& inode, std::uint64_t index, std::uint32_t vm_flags);

// Reads [start, start + count) into the cache, where pages are missing (MADV_WILLNEED, and
// readahead's windows); the page at marker (if inside) gets PG_readahead. Pages at wait_index
// are read synchronously, with their run; the rest asynchronously. Returns the result of the
// synchronous read (0 or -errno).
int page_cache_ra_submit(Machine& machine, Inode& inode, std::uint64_t start, std::uint64_t count,
    std::uint64_t marker, std::uint64_t wait_index);

} // namespace vmemu
