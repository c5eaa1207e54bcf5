#include <algorithm>
#include <atomic>
#include <cstring>
#include <link.h>
#include "libc_heap.hpp"

namespace vmemu::preload {

namespace {

constexpr std::size_t kBootstrapBytes = 256 * 1024;
alignas(64) unsigned char g_bootstrap[kBootstrapBytes];
std::atomic<std::size_t> g_bootstrap_used { 0 };

LibcHeap g_libc;
std::atomic<bool> g_resolved { false };
thread_local bool t_resolving = false;

struct TextRange {
    std::uintptr_t start;
    std::uintptr_t end;
};
// libc.so.6 and ld-linux: a few executable segments each.
TextRange g_text[8];
std::atomic<int> g_text_count { 0 };


} // namespace

const LibcHeap* libc_heap()
{
    if (g_resolved.load(std::memory_order_acquire))
        return &g_libc;
    if (t_resolving)
        return nullptr;
    t_resolving = true;
    LibcHeap heap {};
    heap.malloc = next_symbol<decltype(heap.malloc)>("malloc");
    heap.free = next_symbol<decltype(heap.free)>("free");
    heap.calloc = next_symbol<decltype(heap.calloc)>("calloc");
    heap.realloc = next_symbol<decltype(heap.realloc)>("realloc");
    heap.memalign = next_symbol<decltype(heap.memalign)>("memalign");
    heap.malloc_usable_size = next_symbol<decltype(heap.malloc_usable_size)>("malloc_usable_size");
    g_libc = heap;
    g_resolved.store(true, std::memory_order_release);
    t_resolving = false;
    return &g_libc;
}

void* bootstrap_alloc(std::size_t size, std::size_t align)
{
    align = std::max<std::size_t>(align, 16);
    std::size_t used = g_bootstrap_used.load(std::memory_order_relaxed);
    for (;;) {
        std::size_t start = (used + align - 1) & ~(align - 1);
        if (start + size > kBootstrapBytes || start + size < start)
            return nullptr;
        if (g_bootstrap_used.compare_exchange_weak(used, start + size, std::memory_order_relaxed))
            return g_bootstrap + start;
    }
}

bool in_bootstrap_heap(const void* pointer)
{
    auto* byte = static_cast<const unsigned char*>(pointer);
    return byte >= g_bootstrap && byte < g_bootstrap + kBootstrapBytes;
}

std::size_t bootstrap_bytes_after(const void* pointer)
{
    return static_cast<std::size_t>(g_bootstrap + kBootstrapBytes - static_cast<const unsigned char*>(pointer));
}

void note_libc_text()
{
    dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void*) {
            const char* name = info->dlpi_name ? info->dlpi_name : "";
            if (!std::strstr(name, "/libc.so") && !std::strstr(name, "/ld-linux"))
                return 0;
            for (int i = 0; i < info->dlpi_phnum; ++i) {
                const ElfW(Phdr)& segment = info->dlpi_phdr[i];
                int count = g_text_count.load(std::memory_order_relaxed);
                if (segment.p_type != PT_LOAD || !(segment.p_flags & PF_X) || count == 8)
                    continue;
                std::uintptr_t start = info->dlpi_addr + segment.p_vaddr;
                g_text[count] = TextRange { start, start + segment.p_memsz };
                g_text_count.store(count + 1, std::memory_order_release);
            }
            return 0;
        },
        nullptr);
}

bool called_from_libc(const void* address)
{
    auto where = reinterpret_cast<std::uintptr_t>(address);
    int count = g_text_count.load(std::memory_order_acquire);
    for (int i = 0; i < count; ++i) {
        if (where >= g_text[i].start && where < g_text[i].end)
            return true;
    }
    return false;
}

} // namespace vmemu::preload
