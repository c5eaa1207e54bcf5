#pragma once
// The mmap/mprotect flag sets vmemu accepts, and their translation to vm_flags.
#include <sys/mman.h>
#include <vmemu/mm/vma.hpp>

namespace vmemu {

inline constexpr int kKnownProt = PROT_READ | PROT_WRITE | PROT_EXEC;
inline constexpr int kKnownMapFlags
    = MAP_FIXED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE | MAP_POPULATE | MAP_STACK;

constexpr std::uint32_t vm_flags_from_prot(int prot)
{
    return ((prot & PROT_READ) ? VmFlags::Read : 0) | ((prot & PROT_WRITE) ? VmFlags::Write : 0)
        | ((prot & PROT_EXEC) ? VmFlags::Exec : 0);
}

} // namespace vmemu
