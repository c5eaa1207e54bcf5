// The malloc family, interposed: the program's allocations live in emulated memory (see
// Kmalloc). Three kinds of callers get libc's heap instead (see LibcHeap): the shim and vmemu
// themselves, vmemu's own threads, and libc calling malloc from inside itself. free() and
// friends find the owner by the address.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <malloc.h>
#include <unistd.h>
#include "libc_heap.hpp"
#include "runtime.hpp"

namespace vmemu::preload {
namespace {

// The emulated heap for this call, or nullptr when libc's serves it.
Kmalloc* heap_for(const void* caller)
{
    Runtime* state = runtime_for(caller);
    return state ? &state->heap : nullptr;
}

Kmalloc* owner_of(const void* pointer)
{
    Runtime* state = runtime();
    return state && state->heap.owns(pointer) ? &state->heap : nullptr;
}

void* libc_alloc(std::size_t size, std::size_t align, bool zero)
{
    const LibcHeap* libc = libc_heap();
    if (!libc)
        return bootstrap_alloc(size, align); // dlsym is finding libc's functions
    if (align > 16)
        return libc->memalign(align, size);
    return zero ? libc->calloc(1, size) : libc->malloc(size);
}

void* allocate(const void* caller, std::size_t size, std::size_t align, bool zero)
{
    Kmalloc* heap = heap_for(caller);
    void* pointer = heap ? heap->alloc(size, align) : libc_alloc(size, align, zero);
    if (!pointer) {
        errno = ENOMEM;
        return nullptr;
    }
    // Slab objects are reused; large mappings are fresh and read as zero already.
    if (heap && zero && size <= Kmalloc::kMaxSlabObject)
        std::memset(pointer, 0, size);
    return pointer;
}

void release(void* pointer)
{
    if (!pointer || in_bootstrap_heap(pointer))
        return;
    if (Kmalloc* heap = owner_of(pointer)) {
        heap->free(pointer);
        return;
    }
    if (const LibcHeap* libc = libc_heap())
        libc->free(pointer);
}

std::size_t usable(void* pointer)
{
    if (!pointer)
        return 0;
    if (in_bootstrap_heap(pointer))
        return 0; // unknown, and never more than was asked for
    if (Kmalloc* heap = owner_of(pointer))
        return heap->usable_size(pointer);
    const LibcHeap* libc = libc_heap();
    return libc ? libc->malloc_usable_size(pointer) : 0;
}

void* reallocate(const void* caller, void* pointer, std::size_t size)
{
    if (!pointer)
        return allocate(caller, size, 16, false);
    if (size == 0) {
        release(pointer);
        return nullptr;
    }
    Kmalloc* heap = owner_of(pointer);
    if (!heap && !in_bootstrap_heap(pointer))
        return libc_heap()->realloc(pointer, size); // libc's block stays libc's (resolved: it made it)
    std::size_t old_size = heap ? heap->usable_size(pointer) : std::min(size, bootstrap_bytes_after(pointer));
    if (heap && size <= old_size && size > old_size / 2)
        return pointer;
    if (heap) {
        if (void* moved = heap->realloc_large(pointer, size))
            return moved;
    }
    void* fresh = heap ? heap->alloc(size, 16) : allocate(caller, size, 16, false);
    if (!fresh) {
        errno = ENOMEM;
        return nullptr;
    }
    std::memcpy(fresh, pointer, std::min(old_size, size));
    release(pointer);
    return fresh;
}

bool bad_alignment(std::size_t align) { return align == 0 || (align & (align - 1)) != 0; }

void* zeroed_array(const void* caller, std::size_t count, std::size_t size)
{
    std::size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes)) {
        errno = ENOMEM;
        return nullptr;
    }
    return allocate(caller, bytes, 16, true);
}

void* aligned(const void* caller, std::size_t align, std::size_t size)
{
    if (bad_alignment(align)) {
        errno = EINVAL;
        return nullptr;
    }
    return allocate(caller, size, align, false);
}

} // namespace
} // namespace vmemu::preload

using namespace vmemu::preload;

#define VMEMU_CALLER __builtin_return_address(0)

extern "C" {

void* malloc(std::size_t size) { return allocate(VMEMU_CALLER, size, 16, false); }
void free(void* pointer) { release(pointer); }
void cfree(void* pointer) { release(pointer); }

void* calloc(std::size_t count, std::size_t size) { return zeroed_array(VMEMU_CALLER, count, size); }

void* realloc(void* pointer, std::size_t size) { return reallocate(VMEMU_CALLER, pointer, size); }

void* reallocarray(void* pointer, std::size_t count, std::size_t size)
{
    std::size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes)) {
        errno = ENOMEM;
        return nullptr;
    }
    return reallocate(VMEMU_CALLER, pointer, bytes);
}

void* memalign(std::size_t align, std::size_t size) { return aligned(VMEMU_CALLER, align, size); }

int posix_memalign(void** out, std::size_t align, std::size_t size)
{
    if (bad_alignment(align) || align % sizeof(void*) != 0)
        return EINVAL;
    void* pointer = allocate(VMEMU_CALLER, size, align, false);
    if (!pointer)
        return ENOMEM;
    *out = pointer;
    return 0;
}

void* aligned_alloc(std::size_t align, std::size_t size) { return aligned(VMEMU_CALLER, align, size); }

void* valloc(std::size_t size) { return allocate(VMEMU_CALLER, size, 4096, false); }

void* pvalloc(std::size_t size)
{
    std::size_t rounded = (size + 4095) & ~std::size_t { 4095 };
    if (rounded < size) {
        errno = ENOMEM;
        return nullptr;
    }
    return allocate(VMEMU_CALLER, rounded ? rounded : 4096, 4096, false);
}

std::size_t malloc_usable_size(void* pointer) { return usable(pointer); }

// glibc's own names for the same functions.
void* __libc_malloc(std::size_t size) { return allocate(VMEMU_CALLER, size, 16, false); }
void __libc_free(void* pointer) { release(pointer); }
void* __libc_calloc(std::size_t count, std::size_t size) { return zeroed_array(VMEMU_CALLER, count, size); }
void* __libc_realloc(void* pointer, std::size_t size) { return reallocate(VMEMU_CALLER, pointer, size); }
void* __libc_memalign(std::size_t align, std::size_t size) { return aligned(VMEMU_CALLER, align, size); }
void* __libc_valloc(std::size_t size) { return allocate(VMEMU_CALLER, size, 4096, false); }
void* __libc_pvalloc(std::size_t size) { return pvalloc(size); }

} // extern "C"
