#pragma once
#include <cstddef>
#include <optional>

namespace vmemu {

// "64M", "1G", "4096": bytes, with K, M and G suffixes (powers of 1024, either case), as the
// command line and the VMEMU_* variables take them. nullopt for anything else, negative or
// overflowing values included. No allocation: the LD_PRELOAD shim parses before its heap exists.
std::optional<std::size_t> parse_size(const char* text) noexcept;

} // namespace vmemu
