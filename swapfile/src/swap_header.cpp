#include <cstdio>
#include <cstring>
#include <sys/random.h>
#include <vmemu/swap/swap_header.hpp>

namespace vmemu {

namespace {
// Offsets within the page, from union swap_header's info member.
constexpr std::size_t kVersionOffset = 1024;
constexpr std::size_t kLastPageOffset = 1028;
constexpr std::size_t kBadPagesOffset = 1032;
constexpr std::size_t kUuidOffset = 1036;
constexpr std::size_t kLabelOffset = 1052;
constexpr char kMagic[] = "SWAPSPACE2";
constexpr std::size_t kMagicBytes = 10;
constexpr std::size_t kMagicOffset = SwapHeaderInfo::kPageSize - kMagicBytes;

void put32(std::byte* at, std::uint32_t value) { std::memcpy(at, &value, sizeof value); }
std::uint32_t get32(const std::byte* at)
{
    std::uint32_t value;
    std::memcpy(&value, at, sizeof value);
    return value;
}
} // namespace

VmResult<void> SwapHeaderInfo::encode(std::byte* buffer) const
{
    if (label.size() > kLabelBytes)
        return vm_fail(EINVAL, "swap label longer than 16 bytes");
    if (last_page < 1)
        return vm_fail(EINVAL, "swap area needs at least two pages");
    std::memset(buffer, 0, kPageSize);
    put32(buffer + kVersionOffset, version);
    put32(buffer + kLastPageOffset, last_page);
    put32(buffer + kBadPagesOffset, nr_badpages);
    std::memcpy(buffer + kUuidOffset, uuid.data(), uuid.size());
    std::memcpy(buffer + kLabelOffset, label.data(), label.size());
    std::memcpy(buffer + kMagicOffset, kMagic, kMagicBytes);
    return {};
}

VmResult<SwapHeaderInfo> SwapHeaderInfo::decode(const std::byte* buffer)
{
    if (std::memcmp(buffer + kMagicOffset, kMagic, kMagicBytes) != 0)
        return vm_fail(EINVAL, "not a swap area: no SWAPSPACE2 signature");
    SwapHeaderInfo info;
    info.version = get32(buffer + kVersionOffset);
    if (info.version != kVersion)
        return vm_fail(EINVAL, "unsupported swap header version");
    info.last_page = get32(buffer + kLastPageOffset);
    info.nr_badpages = get32(buffer + kBadPagesOffset);
    std::memcpy(info.uuid.data(), buffer + kUuidOffset, info.uuid.size());
    const char* label = reinterpret_cast<const char*>(buffer + kLabelOffset);
    info.label.assign(label, strnlen(label, kLabelBytes));
    return info;
}

std::array<std::uint8_t, 16> SwapHeaderInfo::random_uuid()
{
    std::array<std::uint8_t, 16> uuid {};
    std::size_t filled = 0;
    while (filled < uuid.size()) {
        ssize_t n = getrandom(uuid.data() + filled, uuid.size() - filled, 0);
        if (n > 0)
            filled += static_cast<std::size_t>(n);
    }
    uuid[6] = static_cast<std::uint8_t>((uuid[6] & 0x0f) | 0x40); // version 4
    uuid[8] = static_cast<std::uint8_t>((uuid[8] & 0x3f) | 0x80); // RFC 4122 variant
    return uuid;
}

std::string SwapHeaderInfo::uuid_string() const
{
    char text[37];
    std::snprintf(text, sizeof text, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", uuid[0],
        uuid[1], uuid[2], uuid[3], uuid[4], uuid[5], uuid[6], uuid[7], uuid[8], uuid[9], uuid[10], uuid[11], uuid[12],
        uuid[13], uuid[14], uuid[15]);
    return text;
}

} // namespace vmemu
