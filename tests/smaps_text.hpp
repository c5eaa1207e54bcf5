#pragma once
// Reading /proc/PID/smaps text, vmemu's or the kernel's, in the tests: each VMA's range and
// the words of its VmFlags line, and which pages lie in VM_LOCKED VMAs.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vmemu/base/page.hpp>

namespace vmemu::test {

// Calls visit(line) for each line of text, without its newline.
template<typename Visit>
void for_each_line(const std::string& text, Visit visit)
{
    for (std::size_t position = 0; position < text.size();) {
        std::size_t end_of_line = text.find('\n', position);
        if (end_of_line == std::string::npos)
            end_of_line = text.size();
        visit(text.substr(position, end_of_line - position));
        position = end_of_line + 1;
    }
}

// Calls visit(start, end, flags, anonymous_kb) for each VMA of the text: flags are the words
// of its VmFlags line (" rd wr lo ..."), anonymous_kb its "Anonymous:" figure.
template<typename Visit>
void for_each_smaps_vma(const std::string& smaps, Visit visit)
{
    std::uintptr_t start = 0;
    std::uintptr_t end = 0;
    bool in_vma = false;
    unsigned long anonymous_kb = 0;
    for_each_line(smaps, [&](const std::string& line) {
        unsigned long low = 0;
        unsigned long high = 0;
        char perms[5] = {};
        // A VMA's first line: "start-end perms offset dev inode path"; the fields after it
        // ("Size:", "VmFlags:") begin with a name and a colon.
        if (std::sscanf(line.c_str(), "%lx-%lx %4s ", &low, &high, perms) == 3 && line.find(':') > line.find(' ')) {
            start = low;
            end = high;
            in_vma = true;
            anonymous_kb = 0;
        } else if (in_vma && line.rfind("Anonymous:", 0) == 0) {
            anonymous_kb = std::strtoul(line.c_str() + 10, nullptr, 10);
        } else if (in_vma && line.rfind("VmFlags:", 0) == 0) {
            visit(start, end, line.substr(8) + " ", anonymous_kb);
            in_vma = false;
        }
    });
}

// One mark per page of [start, start + pages pages): 'L' in a VM_LOCKED VMA, '.' elsewhere.
inline std::string locked_page_marks(const std::string& smaps, std::uintptr_t start, std::size_t pages)
{
    std::string marks(pages, '.');
    for_each_smaps_vma(smaps, [&](std::uintptr_t low, std::uintptr_t high, const std::string& flags, unsigned long) {
        if (flags.find(" lo ") == std::string::npos)
            return;
        for (std::size_t page = 0; page < pages; ++page) {
            std::uintptr_t address = start + page * kPageSize;
            if (address >= low && address < high)
                marks[page] = 'L';
        }
    });
    return marks;
}

} // namespace vmemu::test
