#include <liburing.h>
#include <vmemu/os/io_ring.hpp>

namespace vmemu::os {

VmResult<std::unique_ptr<IoRing>> IoRing::create(unsigned entries)
{
    auto ring = std::make_unique<io_uring>();
    int result = io_uring_queue_init(entries, ring.get(), 0);
    if (result < 0)
        return vm_fail(-result, "io_uring_queue_init failed");
    return std::unique_ptr<IoRing>(new IoRing(std::move(ring)));
}

IoRing::IoRing(std::unique_ptr<io_uring> ring)
    : m_ring(std::move(ring))
{
}

IoRing::~IoRing() { io_uring_queue_exit(m_ring.get()); }

bool IoRing::queue_read(int fd, void* buffer, std::size_t bytes, std::uint64_t offset, std::uint64_t user_data)
{
    io_uring_sqe* sqe = io_uring_get_sqe(m_ring.get());
    if (!sqe)
        return false;
    io_uring_prep_read(sqe, fd, buffer, static_cast<unsigned>(bytes), offset);
    io_uring_sqe_set_data64(sqe, user_data);
    return true;
}

bool IoRing::queue_write(int fd, const void* buffer, std::size_t bytes, std::uint64_t offset, std::uint64_t user_data)
{
    io_uring_sqe* sqe = io_uring_get_sqe(m_ring.get());
    if (!sqe)
        return false;
    io_uring_prep_write(sqe, fd, buffer, static_cast<unsigned>(bytes), offset);
    io_uring_sqe_set_data64(sqe, user_data);
    return true;
}

bool IoRing::queue_nop(std::uint64_t user_data)
{
    io_uring_sqe* sqe = io_uring_get_sqe(m_ring.get());
    if (!sqe)
        return false;
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, user_data);
    return true;
}

int IoRing::submit() { return io_uring_submit(m_ring.get()); }

int IoRing::wait_completions(Completion* out, unsigned max)
{
    io_uring_cqe* cqe = nullptr;
    int result = io_uring_wait_cqe(m_ring.get(), &cqe);
    if (result < 0)
        return result;
    unsigned taken = 0;
    unsigned head;
    io_uring_for_each_cqe(m_ring.get(), head, cqe)
    {
        if (taken == max)
            break;
        out[taken++] = Completion { io_uring_cqe_get_data64(cqe), cqe->res };
    }
    io_uring_cq_advance(m_ring.get(), taken);
    return static_cast<int>(taken);
}

} // namespace vmemu::os
