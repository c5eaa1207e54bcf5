// The smallest complete use of libvmemu: a demand-paged arena of 1 GiB of virtual space on
// 16 MiB of frames. Only the pages the program touches get frames.
#include <cstdio>
#include <cstring>
#include <sys/mman.h>
#include <vmemu/vmemu.hpp>

int main()
{
    auto machine = vmemu::Machine::create({ .frames = 4096 }); // 4096 frames of 4 KiB: 16 MiB
    if (!machine) {
        std::fprintf(stderr, "vmemu: %s\n", machine.error().what());
        return 1;
    }
    auto space = (*machine)->create_address_space();
    if (!space) {
        std::fprintf(stderr, "vmemu: %s\n", space.error().what());
        return 1;
    }
    auto arena = (*space)->mmap(vmemu::VirtAddr(), std::size_t { 1 } << 30, PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS);
    if (!arena) {
        std::fprintf(stderr, "vmemu: mmap: %s (%s)\n", arena.error().what(), std::strerror(arena.error().code()));
        return 1;
    }
    // Touch one byte every 1 MiB: 1024 pages get frames, the rest stay virtual.
    char* bytes = arena->ptr<char>();
    for (std::size_t offset = 0; offset < (std::size_t { 1 } << 30); offset += std::size_t { 1 } << 20)
        bytes[offset] = static_cast<char>(offset >> 20);
    std::printf("%s", (*machine)->meminfo().c_str());
    std::printf("%s", (*space)->maps().c_str());
    (void)(*space)->munmap(*arena, std::size_t { 1 } << 30);
    return 0;
}
