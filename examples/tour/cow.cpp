// tour cow: a written page shared by parent and child after fork, read-only in both, and
// copied when the child writes it (do_wp_page()); the parent's copy becomes its own again.
#include <sys/mman.h>
#include "tour.hpp"

namespace vmemu::tour {

int cow_chapter(const Options& options)
{
    auto machine = make_machine(1024, 0, false);
    TraceRecording recording(*machine, options);
    auto parent = check(machine->create_address_space(), "address space");
    constexpr std::size_t kLength = 16 * kPageSize;
    VirtAddr region = check(parent->mmap(VirtAddr(), kLength, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS), "mmap");
    VirtAddr address = region.offset(3 * kPageSize);
    *address.ptr<char>() = 'P';
    std::printf("== the parent wrote 'P': its page is its own (mapcount 1, writable)\n%s", parent->page_walk(address).c_str());

    auto before = vmstat_values(*machine);
    auto child = check(parent->fork(), "fork");
    // The child's VMAs lie at the parent's offsets in the child's own reservation.
    VirtAddr child_address = child->reservation_start().offset(address - parent->reservation_start());
    auto print_walks = [&] {
        std::printf("-- the parent's walk\n%s-- the child's walk\n%s", parent->page_walk(address).c_str(),
            child->page_walk(child_address).c_str());
    };
    std::printf("\n== fork(): no page is copied. Both PTEs map the same frame, write-protected (no 'write' bit), and\n"
                "   its mapcount is 2. vmstat:\n");
    print_vmstat_changes(before, *machine);
    print_walks();

    before = vmstat_values(*machine);
    *child_address.ptr<char>() = 'C';
    std::printf("\n== the child writes 'C': a write fault on a write-protected PTE (cow_fault). The child gets a\n"
                "   copy in a new frame, writable; the parent's PTE still maps the old frame, now mapcount 1. vmstat:\n");
    print_vmstat_changes(before, *machine);
    print_walks();

    before = vmstat_values(*machine);
    *address.ptr<char>() = 'Q';
    std::printf("\n== the parent writes 'Q': its page is mapped once now, so the write fault reuses it in place, no\n"
                "   copy (the PTE gets its write bit back). vmstat:\n");
    print_vmstat_changes(before, *machine);
    std::printf("-- the parent's walk\n%s", parent->page_walk(address).c_str());
    char in_parent = *address.ptr<char>();
    char in_child = *child_address.ptr<char>();
    std::printf("\nthe parent reads '%c', the child '%c'\n", in_parent, in_child);
    child.reset();
    return in_parent == 'Q' && in_child == 'C' ? 0 : 1;
}

} // namespace vmemu::tour
