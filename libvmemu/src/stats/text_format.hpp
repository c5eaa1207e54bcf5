#pragma once
// Helpers for the /proc text formats; not for the fault path (they allocate).
#include <cstdarg>
#include <cstdio>
#include <string>

namespace vmemu {

class Vma;

[[gnu::format(printf, 2, 3)]] inline void append_format(std::string& out, const char* format, ...)
{
    char buffer[512];
    va_list args;
    va_start(args, format);
    int length = std::vsnprintf(buffer, sizeof buffer, format, args);
    va_end(args);
    if (length > 0)
        out.append(buffer, static_cast<std::size_t>(length) < sizeof buffer ? static_cast<std::size_t>(length) : sizeof buffer - 1);
}

// One line of /proc/meminfo or /proc/PID/smaps: the label padded to 16 columns, the value in
// kB right-aligned in 8 (show_val_kb() and SEQ_PUT_DEC()).
inline void append_kb(std::string& out, const char* label, unsigned long kilobytes)
{
    append_format(out, "%-16s%8lu kB\n", label, kilobytes);
}

// The line of /proc/PID/maps that shows vma (proc_maps.cpp).
void append_maps_line(std::string& out, const Vma& vma);

} // namespace vmemu
