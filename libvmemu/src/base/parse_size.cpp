#include <cerrno>
#include <cstdint>
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
    // K, M, G and KiB, MiB, GiB: powers of 1024; KB, MB, GB: powers of 1000 (as dd(1) has them).
    unsigned long long unit = 1;
    int power = *end == 'K' || *end == 'k' ? 1 : *end == 'M' || *end == 'm' ? 2 : *end == 'G' || *end == 'g' ? 3 : 0;
    if (power) {
        ++end;
        unsigned long long base = 1024;
        if (end[0] == 'i' && end[1] == 'B') {
            end += 2;
        } else if (end[0] == 'B') {
            base = 1000;
            ++end;
        }
        for (int i = 0; i < power; ++i)
            unit *= base;
    }
    unsigned long long bytes;
    if (*end != '\0' || __builtin_mul_overflow(value, unit, &bytes) || bytes > SIZE_MAX)
        return std::nullopt;
    return static_cast<std::size_t>(bytes);
}

} // namespace vmemu
