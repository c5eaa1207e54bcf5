#pragma once
#include <cstddef>
#include <cstdint>
#include <dlfcn.h>
#include <vmemu/fault/syscall_user_dispatch.hpp>

namespace vmemu::preload {

// libc's own malloc family, found with dlsym(RTLD_NEXT), for the allocations that must not
// live in emulated memory: vmemu's own, those of its threads, and libc's internal ones (stdio
// buffers, which libc hands to write(2) and read(2) from inside itself, where no wrapper can
// fault them in first). While dlsym itself allocates, a static bootstrap heap serves it.
// Thread-safe: resolution is idempotent, the bootstrap heap is a lock-free bump allocator.
struct LibcHeap {
    void* (*malloc)(std::size_t);
    void (*free)(void*);
    void* (*calloc)(std::size_t, std::size_t);
    void* (*realloc)(void*, std::size_t);
    void* (*memalign)(std::size_t, std::size_t);
    std::size_t (*malloc_usable_size)(void*);
};

// While one is alive on a thread, that thread's allocations come from libc's heap: vmemu's
// own objects (VMAs, strings) never live in the heap it emulates. Every call from the shim
// into vmemu holds one; a VMA allocated in emulated memory under the mmap_lock would fault
// on that very lock.
// vmemu's code under one makes its system calls undiverted (SyscallsAllowed).
class ScopedLibcAllocations {
public:
    ScopedLibcAllocations() { ++t_depth; }
    ~ScopedLibcAllocations() { --t_depth; }
    ScopedLibcAllocations(const ScopedLibcAllocations&) = delete;
    ScopedLibcAllocations& operator=(const ScopedLibcAllocations&) = delete;
    static bool active() { return t_depth > 0; }

private:
    SyscallsAllowed m_allowed;
    static inline thread_local int t_depth = 0;
};

// The definition of name after the shim's own: libc's, for the functions the shim wraps.
template<typename Function>
Function next_symbol(const char* name)
{
    return reinterpret_cast<Function>(dlsym(RTLD_NEXT, name));
}

// libc's functions, resolving them on first use; nullptr while the resolution is running on
// this thread (the caller then takes bootstrap memory).
const LibcHeap* libc_heap();

// The bootstrap heap: never freed, zeroed, 16-byte aligned. nullptr when it is exhausted.
void* bootstrap_alloc(std::size_t size, std::size_t align = 16);
bool in_bootstrap_heap(const void* pointer);
// The bootstrap bytes from pointer to the end of the heap: a bound for copying a block out.
std::size_t bootstrap_bytes_after(const void* pointer);

// Whether the code at address (a return address) belongs to libc or the dynamic linker.
// False until note_libc_text() has run.
bool called_from_libc(const void* address);
void note_libc_text();

} // namespace vmemu::preload
