#pragma once
// Files, for the swap device: opening with O_DIRECT, sizing, and synchronous header I/O.
#include <cstddef>
#include <cstdint>
#include <vmemu/base/vm_error.hpp>

namespace vmemu::os {

enum class Direct : bool { No, Yes };

// Opens (creating, mode 0600) path for reading and writing.
VmResult<int> open_file(const char* path, Direct direct) noexcept;
// An unnamed file in directory (O_TMPFILE, mode 0600): gone when closed.
VmResult<int> open_tmpfile(const char* directory, Direct direct) noexcept;
// Allocates the blocks of [0, bytes) (fallocate), so that swap-out never finds the disk full.
VmResult<void> allocate_file(int fd, std::uint64_t bytes) noexcept;
VmResult<std::uint64_t> file_size(int fd) noexcept;
VmResult<void> pwrite_all(int fd, const void* buffer, std::size_t bytes, std::uint64_t offset) noexcept;
VmResult<void> pread_all(int fd, void* buffer, std::size_t bytes, std::uint64_t offset) noexcept;
// Copies [offset, offset + bytes) of in to the same range of out, in the kernel
// (copy_file_range), or through buffer (bounce_bytes, aligned for O_DIRECT) where it cannot.
VmResult<void> copy_range(int in, int out, std::uint64_t offset, std::uint64_t bytes, void* bounce,
    std::size_t bounce_bytes) noexcept;

} // namespace vmemu::os
