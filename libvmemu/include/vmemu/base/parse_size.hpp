#pragma once
#include <cstddef>
#include <optional>

namespace vmemu {

// "64M", "64MiB", "1G", "4096": bytes, with K, M and G (either case) or KiB, MiB and GiB
// suffixes for powers of 1024, and KB, MB and GB for powers of 1000 (as dd(1) has them), as
// the command line and the VMEMU_* variables take them. nullopt for anything else, negative or
// overflowing values included. No allocation: the LD_PRELOAD shim parses before its heap exists.
std::optional<std::size_t> parse_size(const char* text) noexcept;

} // namespace vmemu
