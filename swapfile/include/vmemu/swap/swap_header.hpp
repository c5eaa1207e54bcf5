#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vmemu/base/vm_error.hpp>

namespace vmemu {

// The first page of a swap area, in the layout of Linux's union swap_header
// (include/linux/swap.h): boot bits, version 1, last_page, bad pages, uuid and label, and the
// "SWAPSPACE2" magic in the last ten bytes of the page, so that mkswap, swapon, blkid and
// swaplabel read it as theirs.
struct SwapHeaderInfo {
    static constexpr std::size_t kPageSize = 4096;
    static constexpr std::uint32_t kVersion = 1;
    static constexpr std::size_t kLabelBytes = 16;

    std::uint32_t version { kVersion };
    std::uint32_t last_page { 0 }; // the last usable page; slots are 1..last_page
    std::uint32_t nr_badpages { 0 };
    std::array<std::uint8_t, 16> uuid {};
    std::string label;

    // Writes the page into buffer (kPageSize bytes). EINVAL for a label over 16 bytes or fewer
    // than two pages.
    VmResult<void> encode(std::byte* buffer) const;
    // Reads a page; EINVAL when it is not a version 1 SWAPSPACE2 header.
    static VmResult<SwapHeaderInfo> decode(const std::byte* buffer);
    // A random (version 4) UUID, as mkswap makes.
    static std::array<std::uint8_t, 16> random_uuid();
    std::string uuid_string() const;
};

} // namespace vmemu
