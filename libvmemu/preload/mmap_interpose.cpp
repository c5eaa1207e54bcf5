// The mmap family, interposed: the program's anonymous private mappings and its mappings of
// files on disk (file_mappings.hpp) live in emulated memory, in the same address space as its
// heap. Every other mapping (shared memory, executable code, stacks, huge pages) and every
// call on memory outside the address space goes to the kernel. libc's own calls (thread
// stacks, for one) reach the kernel directly and never come here.
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <sys/mman.h>
#include "file_mappings.hpp"
#include "libc_heap.hpp"
#include "runtime.hpp"

namespace vmemu::preload {
namespace {

// The flags vmemu's mmap takes for anonymous private memory; anything else is the kernel's.
constexpr int kEmulatedFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_NORESERVE
    | MAP_POPULATE;

// The address space for a call from caller, or nullptr for the kernel's.
AddressSpace* space_for_call(const void* caller)
{
    Runtime* state = runtime_for(caller);
    return state ? state->space.get() : nullptr;
}

AddressSpace* space_of(const void* address, const void* caller)
{
    AddressSpace* space = space_for_call(caller);
    if (!space || !space->in_reservation(VirtAddr(reinterpret_cast<std::uintptr_t>(address))))
        return nullptr;
    return space;
}

// A call on a range: vmemu's when the range is in its address space, else the kernel's.
template<typename Kernel, typename Emulated>
int range_call(const void* caller, const void* address, Kernel kernel, Emulated emulated)
{
    AddressSpace* space = space_of(address, caller);
    if (!space)
        return kernel();
    ScopedLibcAllocations libc_allocations;
    auto done = emulated(*space, VirtAddr(reinterpret_cast<std::uintptr_t>(address)));
    if (!done) {
        errno = done.error().code();
        return -1;
    }
    return 0;
}

} // namespace
} // namespace vmemu::preload

using namespace vmemu;
using namespace vmemu::preload;

#define VMEMU_CALLER __builtin_return_address(0)

extern "C" {

void* mmap(void* address, std::size_t length, int prot, int flags, int fd, off_t offset)
{
    static auto real = next_symbol<void* (*)(void*, std::size_t, int, int, int, off_t)>("mmap");
    AddressSpace* space = space_for_call(VMEMU_CALLER);
    if (!space)
        return real(address, length, prot, flags, fd, offset);
    bool anonymous_private = (flags & MAP_ANONYMOUS) && (flags & MAP_TYPE) == MAP_PRIVATE && !(flags & ~kEmulatedFlags);
    bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
    auto start = VirtAddr(reinterpret_cast<std::uintptr_t>(address));
    if ((fixed && !space->in_reservation(start)) || !(anonymous_private || serves_file_mapping(prot, flags, fd)))
        return real(address, length, prot, flags, fd, offset);
    ScopedLibcAllocations libc_allocations;
    auto mapped = space->mmap(start, length, prot, flags, fd, offset);
    // A file mapping bigger than the room left in the address space (a database's large
    // reserved map) is the kernel's, as it would be without vmemu.
    if (!mapped && !anonymous_private && !fixed && mapped.error().code() == ENOMEM)
        return real(address, length, prot, flags, fd, offset);
    if (!mapped) {
        errno = mapped.error().code();
        return MAP_FAILED;
    }
    return mapped->ptr<void>();
}
void* mmap64(void* address, std::size_t length, int prot, int flags, int fd, off_t offset)
{
    return mmap(address, length, prot, flags, fd, offset);
}

int munmap(void* address, std::size_t length)
{
    static auto real = next_symbol<int (*)(void*, std::size_t)>("munmap");
    return range_call(VMEMU_CALLER, address, [&] { return real(address, length); },
        [&](AddressSpace& space, VirtAddr start) { return space.munmap(start, length); });
}

int mprotect(void* address, std::size_t length, int prot)
{
    static auto real = next_symbol<int (*)(void*, std::size_t, int)>("mprotect");
    return range_call(VMEMU_CALLER, address, [&] { return real(address, length, prot); },
        [&](AddressSpace& space, VirtAddr start) { return space.mprotect(start, length, prot); });
}

int madvise(void* address, std::size_t length, int advice)
{
    static auto real = next_symbol<int (*)(void*, std::size_t, int)>("madvise");
    return range_call(VMEMU_CALLER, address, [&] { return real(address, length, advice); },
        [&](AddressSpace& space, VirtAddr start) { return space.madvise(start, length, advice); });
}

int msync(void* address, std::size_t length, int flags)
{
    static auto real = next_symbol<int (*)(void*, std::size_t, int)>("msync");
    return range_call(VMEMU_CALLER, address, [&] { return real(address, length, flags); },
        [&](AddressSpace& space, VirtAddr start) { return space.msync(start, length, flags); });
}

int mlock(const void* address, std::size_t length)
{
    static auto real = next_symbol<int (*)(const void*, std::size_t)>("mlock");
    return range_call(VMEMU_CALLER, address, [&] { return real(address, length); },
        [&](AddressSpace& space, VirtAddr start) { return space.mlock(start, length); });
}

int munlock(const void* address, std::size_t length)
{
    static auto real = next_symbol<int (*)(const void*, std::size_t)>("munlock");
    return range_call(VMEMU_CALLER, address, [&] { return real(address, length); },
        [&](AddressSpace& space, VirtAddr start) { return space.munlock(start, length); });
}

int mincore(void* address, std::size_t length, unsigned char* vec)
{
    static auto real = next_symbol<int (*)(void*, std::size_t, unsigned char*)>("mincore");
    return range_call(VMEMU_CALLER, address, [&] { return real(address, length, vec); },
        [&](AddressSpace& space, VirtAddr start) { return space.mincore(start, length, vec); });
}

void* mremap(void* old_address, std::size_t old_length, std::size_t new_length, int flags, ...)
{
    static auto real = next_symbol<void* (*)(void*, std::size_t, std::size_t, int, ...)>("mremap");
    void* new_address = nullptr;
    if (flags & MREMAP_FIXED) {
        va_list arguments;
        va_start(arguments, flags);
        new_address = va_arg(arguments, void*);
        va_end(arguments);
    }
    AddressSpace* space = space_of(old_address, VMEMU_CALLER);
    if (!space)
        return real(old_address, old_length, new_length, flags, new_address);
    ScopedLibcAllocations libc_allocations;
    auto moved = space->mremap(VirtAddr(reinterpret_cast<std::uintptr_t>(old_address)), old_length, new_length, flags,
        VirtAddr(reinterpret_cast<std::uintptr_t>(new_address)));
    if (!moved) {
        errno = moved.error().code();
        return MAP_FAILED;
    }
    return moved->ptr<void>();
}

} // extern "C"
