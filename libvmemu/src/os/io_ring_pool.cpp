#include <cerrno>
#include <vmemu/os/io_ring_pool.hpp>

namespace vmemu::os {

VmResult<std::unique_ptr<IoRingPool>> IoRingPool::create()
{
    std::unique_ptr<IoRingPool> pool(new IoRingPool);
    for (Slot& slot : pool->m_slots)
        slot.ring = VM_TRY(IoRing::create(4));
    return pool;
}

int IoRingPool::readv(int fd, const iovec* buffers, unsigned count, std::uint64_t offset)
{
    for (Slot& slot : m_slots) {
        bool expected = false;
        if (!slot.busy.compare_exchange_strong(expected, true, std::memory_order_acquire))
            continue;
        int result = -EIO;
        if (slot.ring->queue_readv(fd, buffers, count, offset, 0)) {
            // Submission and the wait in one system call.
            int submitted = slot.ring->submit_and_wait(1);
            IoRing::Completion completion {};
            int taken = -EINTR;
            while (submitted >= 0 && (taken = slot.ring->wait_completions(&completion, 1)) == -EINTR) { }
            result = submitted < 0 ? submitted : taken == 1 ? completion.result : -EIO;
        }
        slot.busy.store(false, std::memory_order_release);
        return result;
    }
    return -EBUSY;
}

void IoRingPool::inject_errors(IoRing::Op op, int error, unsigned count)
{
    for (Slot& slot : m_slots)
        slot.ring->inject_errors(op, error, count);
}

void IoRingPool::inject_submit_errors(int error, unsigned count)
{
    for (Slot& slot : m_slots)
        slot.ring->inject_submit_errors(error, count);
}

} // namespace vmemu::os
