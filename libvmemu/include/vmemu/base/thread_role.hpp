#pragma once

namespace vmemu {

// The threads vmemu runs itself: kswapd and the swap device's completion thread. Code that
// reclaims or completes swap I/O must never fault on emulated memory, so the LD_PRELOAD shim
// serves these threads' allocations from libc's heap, never from the emulated one.
void mark_vmemu_thread() noexcept;
bool is_vmemu_thread() noexcept;

} // namespace vmemu
