#pragma once
// The mmap/mprotect flag sets vmemu accepts, and their translation to vm_flags.
#include <sys/mman.h>
#include <vmemu/mm/vma.hpp>

namespace vmemu {

// Linux values glibc's <sys/mman.h> does not name (asm-generic/mman-common.h).
inline constexpr int kProtSem = 0x8;
inline constexpr int kMapUninitialized = 0x4000000;

// PROT_SEM is a Linux protection bit with no effect on x86; it is accepted and ignored.
inline constexpr int kKnownProt = PROT_READ | PROT_WRITE | PROT_EXEC | kProtSem;
inline constexpr int kAccessProt = PROT_READ | PROT_WRITE | PROT_EXEC;
// The flags vmemu implements, and the Linux flags that Linux itself ignores for private
// anonymous memory (MAP_DENYWRITE, MAP_EXECUTABLE, MAP_NONBLOCK, MAP_STACK, MAP_SYNC,
// MAP_UNINITIALIZED). MAP_LOCKED is accepted: it populates, as in Linux.
inline constexpr int kKnownMapFlags = MAP_FIXED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE
    | MAP_POPULATE | MAP_LOCKED | MAP_STACK | MAP_DENYWRITE | MAP_EXECUTABLE | MAP_NONBLOCK | MAP_SYNC
    | kMapUninitialized;
// Linux flags whose meaning vmemu does not provide: EOPNOTSUPP rather than a silent difference.
inline constexpr int kUnsupportedMapFlags = MAP_GROWSDOWN | MAP_HUGETLB | MAP_32BIT;

constexpr std::uint32_t vm_flags_from_prot(int prot)
{
    return ((prot & PROT_READ) ? VmFlags::Read : 0) | ((prot & PROT_WRITE) ? VmFlags::Write : 0)
        | ((prot & PROT_EXEC) ? VmFlags::Exec : 0);
}

} // namespace vmemu
