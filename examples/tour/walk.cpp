// tour walk: one address of an anonymous mapping, walked through the page table before it is
// touched, after a read (the zero page), after a write (a frame of its own), after
// madvise(MADV_PAGEOUT) (a swap entry) and after the next read (back from swap).
#include <sys/mman.h>
#include "tour.hpp"

namespace vmemu::tour {

int walk_chapter(const Options& options)
{
    auto machine = make_machine(1024, std::size_t { 16 } << 20, false);
    TraceRecording recording(*machine, options);
    auto space = check(machine->create_address_space(), "address space");
    constexpr std::size_t kLength = 64 * kPageSize;
    VirtAddr region = check(space->mmap(VirtAddr(), kLength, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS), "mmap");
    VirtAddr address = region.offset(5 * kPageSize + 0x2a0);
    auto* byte = address.ptr<volatile char>();

    std::printf("== /proc/self/maps: the VMA of the mmap(2), 64 pages, none of them touched\n%s", space->maps().c_str());
    std::printf("\n== the walk of %#lx before any touch\n%s", static_cast<unsigned long>(address.get()),
        space->page_walk(address).c_str());
    char seen = *byte;
    std::printf("\n== after a read (it saw %d): the PTE maps the shared zero page, read-only\n%s", seen,
        space->page_walk(address).c_str());
    *byte = 'x';
    std::printf("\n== after a write: a zeroed frame of its own, on the LRU\n%s", space->page_walk(address).c_str());
    check(space->madvise(address.page_base(), kPageSize, MADV_PAGEOUT), "madvise");
    machine->wait_for_swap_io();
    std::printf("\n== after madvise(MADV_PAGEOUT): the frame is written to swap and freed; the PTE keeps the swap entry\n%s",
        space->page_walk(address).c_str());
    seen = *byte;
    std::printf("\n== after the next read (it saw '%c'): a major fault read the page back into a free frame, which\n"
                "   stays in the swap cache until it is written again\n%s",
        seen, space->page_walk(address).c_str());
    check(space->munmap(region, kLength), "munmap");
    return seen == 'x' ? 0 : 1;
}

} // namespace vmemu::tour
