#pragma once
// The hardware: every mmap, munmap and memfd call vmemu makes goes through here. Thin
// wrappers that return the kernel's errno and hold no policy.
#include <cstddef>
#include <cstdint>
#include <vmemu/base/virt_addr.hpp>
#include <vmemu/base/vm_error.hpp>

namespace vmemu::os {

// Protection of a hardware mapping; the values are PROT_READ/PROT_WRITE/PROT_EXEC.
enum class HwProt : std::uint8_t {
    None = 0,
    Read = 1,
    ReadWrite = 3,
    ReadExec = 5,
    ReadWriteExec = 7,
};

enum class Populate : bool { No, Yes };

// A PROT_NONE, MAP_NORESERVE anonymous region: the virtual space of an address space.
VmResult<VirtAddr> reserve(std::size_t bytes) noexcept;
// The same, at exactly address (MAP_FIXED_NOREPLACE): EEXIST if something is mapped there.
VmResult<void> reserve_at(VirtAddr address, std::size_t bytes) noexcept;
// Private anonymous read-write memory for vmemu's own tables (mem_map); zero-filled.
VmResult<void*> map_anonymous(std::size_t bytes) noexcept;
VmResult<void> unmap(void* address, std::size_t bytes) noexcept;

// Maps bytes of fd at offset, MAP_SHARED|MAP_FIXED at address. Populate::Yes fills the
// hardware page tables now instead of on the first access.
VmResult<void> map_fixed_shared(VirtAddr address, std::size_t bytes, HwProt prot, int fd, std::uint64_t offset,
    Populate populate) noexcept;
// Fault injection, for tests: the next count calls that map frames, map_fixed_shared() or
// Userfaultfd::copy(), fail with error before they reach the kernel, as at vm.max_map_count
// (ENOMEM).
void inject_map_errors(int error, unsigned count) noexcept;
// The error the next such call is to fail with, counting it; 0 for none.
int take_injected_map_error() noexcept;
// Fault injection, for tests: the next count zero pages the userfaultfd view maps are written
// between UFFDIO_ZEROPAGE and their write protection, as another thread's write could be.
void inject_zero_page_writes(unsigned count) noexcept;
bool take_injected_zero_page_write() noexcept;
// Puts a piece of the reservation back: PROT_NONE anonymous, MAP_FIXED at address.
VmResult<void> map_fixed_reserved(VirtAddr address, std::size_t bytes) noexcept;
// The userfaultfd hardware view: mprotect() of part of a reservation; MADV_DONTNEED, which
// empties [address, address + bytes) so that its next touch is a missing page; MADV_NOHUGEPAGE;
// and a hole punched in a file (the frames of the arena whose bytes live elsewhere).
VmResult<void> protect(VirtAddr address, std::size_t bytes, HwProt prot) noexcept;
VmResult<void> discard(VirtAddr address, std::size_t bytes) noexcept;
void no_huge_pages(VirtAddr address, std::size_t bytes) noexcept;
VmResult<void> punch_hole(int fd, std::uint64_t offset, std::uint64_t bytes) noexcept;
// madvise(MADV_DONTFORK): a child of fork() does not inherit [address, address + bytes).
void exclude_from_fork(VirtAddr address, std::size_t bytes) noexcept;
// madvise(MADV_DOFORK): a child of fork() inherits [address, address + bytes) again.
void include_in_fork(VirtAddr address, std::size_t bytes) noexcept;
// A MAP_SHARED read-write view of a whole file: the direct map of the frame arena.
VmResult<std::byte*> map_shared(int fd, std::size_t bytes) noexcept;
// The same, at exactly address (MAP_FIXED_NOREPLACE).
VmResult<void> map_shared_at(VirtAddr address, int fd, std::size_t bytes) noexcept;

// memfd_create(MFD_CLOEXEC) sized to bytes.
VmResult<int> memfd_create(const char* name, std::size_t bytes) noexcept;
void close_fd(int fd) noexcept;

// The kernel's limit on mappings per process (vm.max_map_count), and how many this process
// has now (lines of /proc/self/maps). Not for the fault path.
std::size_t max_map_count() noexcept;
std::size_t current_map_count() noexcept;
// The threads of this process (num_threads of /proc/self/stat); 0 if it cannot be read.
std::size_t thread_count() noexcept;

} // namespace vmemu::os

namespace vmemu::os {

// RLIMIT_MEMLOCK in bytes (RLIM_INFINITY as SIZE_MAX), and whether the process may lock
// memory beyond it (CAP_IPC_LOCK in its effective set).
std::size_t memlock_limit() noexcept;
bool can_lock_without_limit() noexcept;

// The machine's RAM plus swap in bytes (sysinfo(2)); SIZE_MAX when it cannot be read.
std::size_t ram_and_swap_bytes() noexcept;

} // namespace vmemu::os
