#pragma once
// A few io_uring instances for synchronous reads from any thread, the fault path included.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/os/io_ring.hpp>

struct iovec;

namespace vmemu::os {

// A caller takes a free ring, submits its read and waits for it in one io_uring_enter, in its
// own thread, so that a fault does not wait for a completion thread to wake it.
// Locking: each ring has a busy flag taken by compare-and-swap; nothing else is shared.
class IoRingPool {
public:
    static constexpr std::size_t kRings = 4;

    static VmResult<std::unique_ptr<IoRingPool>> create();

    // preadv(2) through a ring: the bytes read, or -errno; -EBUSY, reading nothing, when every
    // ring is busy. Async-signal-safe.
    int readv(int fd, const iovec* buffers, unsigned count, std::uint64_t offset);
    // Fault injection, for tests, on every ring (IoRing::inject_errors()).
    void inject_errors(IoRing::Op op, int error, unsigned count);
    void inject_submit_errors(int error, unsigned count);

private:
    IoRingPool() = default;
    struct Slot {
        std::unique_ptr<IoRing> ring;
        std::atomic<bool> busy { false };
    };
    std::array<Slot, kRings> m_slots;
};

} // namespace vmemu::os
