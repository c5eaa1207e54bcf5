#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include "kmalloc.hpp"
#include "libc_heap.hpp"
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu::preload {

bool Kmalloc::init(AddressSpace& space, std::size_t slab_bytes)
{
    // One more slab of room, so that the area can start on a slab boundary.
    ScopedLibcAllocations libc_allocations;
    auto area = space.mmap(VirtAddr(), slab_bytes + kSlabBytes, PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
    if (!area)
        return false;
    m_slab_count = static_cast<std::uint32_t>(slab_bytes / kSlabBytes);
    // The descriptors: vmemu's metadata, in memory of the real kernel's.
    void* table = ::mmap(nullptr, m_slab_count * sizeof(Slab), PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (table == MAP_FAILED)
        return false;
    m_slab_table = static_cast<Slab*>(table);
    m_slabs_start = (area->get() + kSlabBytes - 1) & ~(kSlabBytes - 1);
    m_slabs_end = m_slabs_start + std::size_t { m_slab_count } * kSlabBytes;
    ScopedLock guard(m_lock);
    for (std::size_t i = 0; i < kClassSizes.size(); ++i)
        m_caches[i] = Cache { kClassSizes[i], static_cast<std::uint32_t>(kSlabBytes / kClassSizes[i]), kNone };
    m_space = &space;
    return true;
}

std::uint32_t Kmalloc::class_for(std::size_t size, std::size_t align)
{
    // Above the minimum alignment only the power-of-two classes will do: their objects are
    // aligned to their size.
    if (align > kMinAlign)
        size = std::bit_ceil(std::max(size, align));
    for (std::uint32_t i = 0; i < kClassSizes.size(); ++i) {
        if (kClassSizes[i] >= size)
            return i;
    }
    return kNone;
}

Kmalloc::ThreadCache& Kmalloc::thread_cache()
{
    // initial-exec: the shim is loaded at start-up, so its TLS is static and needs no
    // allocation on a thread's first use.
    static thread_local ThreadCache cache __attribute__((tls_model("initial-exec")));
    return cache;
}

Kmalloc::ThreadCache::~ThreadCache()
{
    if (owner)
        owner->drain(*this);
    drained = true;
}

void Kmalloc::drain(ThreadCache& cache)
{
    ScopedLock guard(m_lock);
    for (std::size_t c = 0; c < kClassSizes.size(); ++c) {
        while (cache.count[c])
            slab_free(cache.objects[c][--cache.count[c]]);
    }
}

void* Kmalloc::alloc(std::size_t size, std::size_t align)
{
    if (size == 0)
        size = 1;
    std::uint32_t c = size <= kMaxSlabObject && align <= 4096 ? class_for(size, align) : kNone;
    if (c == kNone)
        return large_alloc(size, align);
    ThreadCache& cache = thread_cache();
    if (cache.drained) {
        ScopedLock guard(m_lock);
        return slab_alloc(c);
    }
    cache.owner = this;
    if (cache.count[c] == 0) {
        // Refill half the cache under one hold of the lock.
        ScopedLock guard(m_lock);
        while (cache.count[c] < kThreadCacheDepth / 2) {
            void* object = slab_alloc(c);
            if (!object)
                break;
            cache.objects[c][cache.count[c]++] = object;
        }
        if (cache.count[c] == 0)
            return nullptr;
    }
    return cache.objects[c][--cache.count[c]];
}

void Kmalloc::invalid_pointer(const char* function, const void* pointer)
{
    // As glibc's malloc_printerr(): a heap handed a pointer it never gave out is corrupt.
    std::fprintf(stderr, "vmemu: %s(): invalid pointer %p\n", function, pointer);
    std::abort();
}

void Kmalloc::free(void* pointer)
{
    if (!in_slabs(pointer)) {
        large_free(pointer);
        return;
    }
    // The slab's class cannot change while one of its objects is in use.
    std::uint32_t index = slab_index(pointer);
    const Slab& slab = m_slab_table[index];
    std::uint32_t c = slab.cache;
    std::size_t offset = reinterpret_cast<std::uintptr_t>(pointer) - m_slabs_start - std::size_t { index } * kSlabBytes;
    if (c >= kClassSizes.size() || offset % kClassSizes[c] != 0 || offset / kClassSizes[c] >= slab.carved)
        invalid_pointer("free", pointer);
    ThreadCache& cache = thread_cache();
    if (!cache.drained && cache.count[c] < kThreadCacheDepth) {
        cache.owner = this;
        cache.objects[c][cache.count[c]++] = pointer;
        return;
    }
    // Full: the object and half the cache go back under one hold of the lock.
    ScopedLock guard(m_lock);
    slab_free(pointer);
    while (!cache.drained && cache.count[c] > kThreadCacheDepth / 2)
        slab_free(cache.objects[c][--cache.count[c]]);
}

std::size_t Kmalloc::usable_size(const void* pointer) const
{
    if (in_slabs(pointer))
        return kClassSizes[m_slab_table[slab_index(pointer)].cache];
    const auto* header = reinterpret_cast<const LargeHeader*>(pointer) - 1;
    return header->mapping + header->length - reinterpret_cast<std::uintptr_t>(pointer);
}

void Kmalloc::link_partial(std::uint32_t index)
{
    Slab& slab = m_slab_table[index];
    Cache& cache = m_caches[slab.cache];
    slab.prev = kNone;
    slab.next = cache.partial;
    if (cache.partial != kNone)
        m_slab_table[cache.partial].prev = index;
    cache.partial = index;
    slab.partial = true;
}

void Kmalloc::unlink_partial(std::uint32_t index)
{
    Slab& slab = m_slab_table[index];
    if (slab.prev != kNone)
        m_slab_table[slab.prev].next = slab.next;
    else
        m_caches[slab.cache].partial = slab.next;
    if (slab.next != kNone)
        m_slab_table[slab.next].prev = slab.prev;
    slab.partial = false;
}

std::uint32_t Kmalloc::new_slab(std::uint32_t cache)
{
    std::uint32_t index = m_free_slabs;
    if (index != kNone) {
        m_free_slabs = m_slab_table[index].next;
    } else {
        if (m_next_fresh_slab == m_slab_count)
            return kNone;
        index = m_next_fresh_slab++;
    }
    m_slab_table[index] = Slab { nullptr, cache, 0, 0, kNone, kNone, false, false };
    link_partial(index);
    return index;
}

void* Kmalloc::slab_alloc(std::uint32_t cache_index)
{
    Cache& cache = m_caches[cache_index];
    std::uint32_t index = cache.partial != kNone ? cache.partial : new_slab(cache_index);
    if (index == kNone)
        return nullptr;
    Slab& slab = m_slab_table[index];
    void* object = nullptr;
    if (slab.freelist) {
        object = slab.freelist;
        slab.freelist = *static_cast<void**>(object);
    } else {
        object = reinterpret_cast<void*>(m_slabs_start + std::size_t { index } * kSlabBytes
            + std::size_t { slab.carved } * cache.size);
        ++slab.carved;
    }
    if (++slab.inuse == cache.objects)
        unlink_partial(index); // full
    return object;
}

void Kmalloc::slab_free(void* pointer)
{
    std::uint32_t index = slab_index(pointer);
    Slab& slab = m_slab_table[index];
    Cache& cache = m_caches[slab.cache];
    *static_cast<void**>(pointer) = slab.freelist;
    slab.freelist = pointer;
    bool was_full = !slab.partial;
    --slab.inuse;
    if (was_full)
        link_partial(index);
    if (slab.inuse > 0 || (cache.partial == index && slab.next == kNone))
        return; // in use, or the cache's only partial slab: kept for the next allocation
    // discard_slab(): the frames go back, the slab to the free ones.
    unlink_partial(index);
    void* start = reinterpret_cast<void*>(m_slabs_start + std::size_t { index } * kSlabBytes);
    ScopedLibcAllocations libc_allocations;
    (void)m_space->madvise(VirtAddr(reinterpret_cast<std::uintptr_t>(start)), kSlabBytes, MADV_DONTNEED);
    slab.next = m_free_slabs;
    slab.discarded = true;
    m_free_slabs = index;
}

void* Kmalloc::large_alloc(std::size_t size, std::size_t align)
{
    align = std::max(align, kMinAlign);
    if (size > (std::size_t { 1 } << 46) || align > (std::size_t { 1 } << 30))
        return nullptr;
    std::size_t length = (size + align + sizeof(LargeHeader) + 4095) & ~std::size_t { 4095 };
    ScopedLibcAllocations libc_allocations;
    auto mapping = m_space->mmap(VirtAddr(), length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    if (!mapping)
        return nullptr;
    std::uintptr_t pointer = (mapping->get() + sizeof(LargeHeader) + align - 1) & ~(align - 1);
    auto* header = reinterpret_cast<LargeHeader*>(pointer) - 1;
    *header = LargeHeader { mapping->get(), length };
    return reinterpret_cast<void*>(pointer);
}

void* Kmalloc::large_realloc(void* pointer, std::size_t size)
{
    // mremap() moves the block's page-table entries, with its frames and swap entries, to a
    // mapping of the new size: nothing is copied. The offset in the page is kept, and with it
    // any alignment up to a page.
    auto address = reinterpret_cast<std::uintptr_t>(pointer);
    LargeHeader header = *(static_cast<LargeHeader*>(pointer) - 1);
    std::size_t offset = address - header.mapping;
    if (size <= kMaxSlabObject || offset >= 4096 || size > (std::size_t { 1 } << 46))
        return nullptr;
    std::size_t length = (offset + size + 4095) & ~std::size_t { 4095 };
    ScopedLibcAllocations libc_allocations;
    auto moved = m_space->mremap(VirtAddr(header.mapping), header.length, length, MREMAP_MAYMOVE);
    if (!moved)
        return nullptr;
    auto* fresh = reinterpret_cast<LargeHeader*>(moved->get() + offset) - 1;
    *fresh = LargeHeader { moved->get(), length };
    return reinterpret_cast<void*>(moved->get() + offset);
}

void Kmalloc::large_free(void* pointer)
{
    auto address = reinterpret_cast<std::uintptr_t>(pointer);
    if (address % kMinAlign != 0 || !owns(reinterpret_cast<void*>(address - sizeof(LargeHeader))))
        invalid_pointer("free", pointer);
    LargeHeader header = *(static_cast<LargeHeader*>(pointer) - 1);
    if (header.mapping % 4096 != 0 || header.length % 4096 != 0 || header.mapping >= address
        || address >= header.mapping + header.length)
        invalid_pointer("free", pointer);
    ScopedLibcAllocations libc_allocations;
    (void)m_space->munmap(VirtAddr(header.mapping), header.length);
}

} // namespace vmemu::preload
