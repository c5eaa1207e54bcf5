#include <cerrno>
#include <cstdlib>
#include <vmemu/base/parse_size.hpp>

namespace vmemu {

std::optional<std::size_t> parse_size(const char* text) noexcept
{
    if (!text || *text < '0' || *text > '9')
        return std::nullopt;
    errno = 0;
    char* end = nullptr;
    unsigned long long value = std::strtoull(text, &end, 10);
    if (errno || end == text)
        return std::nullopt;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift)
        ++end;
    if (*end != '\0' || value > (~0ull >> shift))
        return std::nullopt;
    return static_cast<std::size_t>(value << shift);
}

} // namespace vmemu
