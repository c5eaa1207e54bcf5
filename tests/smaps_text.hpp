#pragma once
// Reading /proc/PID/smaps text, vmemu's or the kernel's, in the tests: each VMA's range and
// the words of its VmFlags line, and which pages lie in VM_LOCKED VMAs.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vmemu/base/page.hpp>

namespace vmemu::test {

// The whole text of a /proc file, read with read(2): a process with thousands of VMAs has
// megabytes of smaps, and a stream iterator spends most of a differential run copying them.
inline std::string read_proc_text(const char* path)
{
    std::string text;
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return text;
    char buffer[1 << 16];
    for (;;) {
        ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        text.append(buffer, static_cast<std::size_t>(got));
    }
    ::close(fd);
    return text;
}

// Calls visit(line) for each line of text, without its newline.
template<typename Visit>
void for_each_line(std::string_view text, Visit visit)
{
    for (std::size_t position = 0; position < text.size();) {
        std::size_t end_of_line = text.find('\n', position);
        if (end_of_line == std::string_view::npos)
            end_of_line = text.size();
        visit(text.substr(position, end_of_line - position));
        position = end_of_line + 1;
    }
}

// A maps line's "start-end perms" head: true and the three fields if the line has one.
inline bool parse_vma_head(std::string_view line, std::uintptr_t& start, std::uintptr_t& end, std::string_view& perms)
{
    const char* first = line.data();
    const char* last = line.data() + line.size();
    auto [after_start, start_error] = std::from_chars(first, last, start, 16);
    if (start_error != std::errc() || after_start == last || *after_start != '-')
        return false;
    auto [after_end, end_error] = std::from_chars(after_start + 1, last, end, 16);
    if (end_error != std::errc() || last - after_end < 5 || *after_end != ' ')
        return false;
    perms = std::string_view(after_end + 1, 4);
    return true;
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
    for_each_line(smaps, [&](std::string_view line) {
        std::uintptr_t low = 0;
        std::uintptr_t high = 0;
        std::string_view perms;
        // A VMA's first line: "start-end perms offset dev inode path"; the fields after it
        // ("Size:", "VmFlags:") begin with a name and a colon, which no hex number is.
        if (parse_vma_head(line, low, high, perms)) {
            start = low;
            end = high;
            in_vma = true;
            anonymous_kb = 0;
        } else if (in_vma && line.starts_with("Anonymous:")) {
            std::string_view figure = line.substr(10);
            figure.remove_prefix(std::min(figure.find_first_not_of(' '), figure.size()));
            std::from_chars(figure.data(), figure.data() + figure.size(), anonymous_kb);
        } else if (in_vma && line.starts_with("VmFlags:")) {
            visit(start, end, std::string(line.substr(8)) + " ", anonymous_kb);
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
