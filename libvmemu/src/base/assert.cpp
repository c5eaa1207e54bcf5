#include <cstdlib>
#include <cstdio>
#include <vmemu/base/assert.hpp>
#include <vmemu/os/signals.hpp>

namespace vmemu::detail {

void assertion_failed(const char* expr, const char* file, int line) noexcept
{
    char number[24];
    std::snprintf(number, sizeof number, "%d", line); // snprintf of an int does not allocate
    os::write_stderr("vmemu: assertion failed: ");
    os::write_stderr(expr);
    os::write_stderr(" at ");
    os::write_stderr(file);
    os::write_stderr(":");
    os::write_stderr(number);
    os::write_stderr("\n");
    std::abort();
}

} // namespace vmemu::detail
