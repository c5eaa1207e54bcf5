#pragma once
#include <cstddef>

namespace vmemu {

// The threads vmemu runs itself: kswapd and the swap device's completion thread. Code that
// reclaims or completes swap I/O must never fault on emulated memory, so the LD_PRELOAD shim
// serves these threads' allocations from libc's heap, never from the emulated one.
// A VmemuThread marks the thread it is made on for its lifetime, and counts it.
class VmemuThread {
public:
    VmemuThread() noexcept;
    ~VmemuThread();
    VmemuThread(const VmemuThread&) = delete;
    VmemuThread& operator=(const VmemuThread&) = delete;
};

bool is_vmemu_thread() noexcept;
// How many of the process's threads are vmemu's own now.
std::size_t vmemu_thread_count() noexcept;

} // namespace vmemu
