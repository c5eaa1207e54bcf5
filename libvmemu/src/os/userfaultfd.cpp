#include <cerrno>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vmemu/os/memory.hpp>
#include <vmemu/os/syscall.hpp>
#include <vmemu/os/uffd_move.hpp>
#include <vmemu/os/userfaultfd.hpp>

namespace vmemu::os {

VmResult<Userfaultfd> Userfaultfd::open(Delivery delivery) noexcept
{
    // A kernel refuses the whole UFFDIO_API call for a feature it lacks, and takes no second
    // call on the same descriptor: without write protection, the descriptor is opened again.
    for (bool write_protect : { true, false }) {
        bool user_mode_only = false;
        int fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
        if (fd < 0 && errno == EPERM) {
            user_mode_only = true;
            fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
        }
        if (fd < 0)
            return vm_fail(errno, "userfaultfd is not available");
        Userfaultfd uffd(fd, user_mode_only, write_protect, delivery);
        uffdio_api api {};
        api.api = UFFD_API;
        api.features = UFFD_FEATURE_MOVE | UFFD_FEATURE_THREAD_ID;
        if (delivery == Delivery::Sigbus)
            api.features |= UFFD_FEATURE_SIGBUS;
        if (write_protect)
            api.features |= UFFD_FEATURE_PAGEFAULT_FLAG_WP;
        if (ioctl(fd, UFFDIO_API, &api) == 0)
            return uffd;
        if (errno != EINVAL || !write_protect)
            return vm_fail(errno, "userfaultfd lacks UFFDIO_MOVE (Linux 6.8 and later)");
    }
    return vm_fail(EINVAL, "userfaultfd lacks UFFDIO_MOVE (Linux 6.8 and later)");
}

Userfaultfd& Userfaultfd::operator=(Userfaultfd&& other) noexcept
{
    if (this != &other) {
        if (m_fd >= 0)
            ::close(m_fd);
        m_fd = other.m_fd;
        m_user_mode_only = other.m_user_mode_only;
        m_write_protect = other.m_write_protect;
        m_delivery = other.m_delivery;
        other.m_fd = -1;
    }
    return *this;
}

Userfaultfd::~Userfaultfd()
{
    if (m_fd >= 0)
        ::close(m_fd);
}

namespace {
VmResult<void> register_with_mode(int fd, VirtAddr start, std::size_t bytes, std::uint64_t mode) noexcept
{
    uffdio_register range {};
    range.range.start = start.get();
    range.range.len = bytes;
    range.mode = mode;
    if (ioctl(fd, UFFDIO_REGISTER, &range) != 0)
        return vm_fail(errno, "UFFDIO_REGISTER failed");
    return {};
}
} // namespace

VmResult<void> Userfaultfd::register_range(VirtAddr start, std::size_t bytes) noexcept
{
    return register_with_mode(m_fd, start, bytes,
        UFFDIO_REGISTER_MODE_MISSING | (m_write_protect ? UFFDIO_REGISTER_MODE_WP : 0));
}

VmResult<void> Userfaultfd::register_move_target(VirtAddr start, std::size_t bytes) noexcept
{
    if (!m_write_protect)
        return vm_fail(EINVAL, "a UFFDIO_MOVE target is registered for write protection, which this kernel lacks");
    return register_with_mode(m_fd, start, bytes, UFFDIO_REGISTER_MODE_WP);
}

namespace {
// UFFDIO_COPY and UFFDIO_MOVE may stop part way with EAGAIN (the address space changing under
// them): they go on from where they stopped. progress is the request's count of bytes done;
// *done says how many bytes went in all, also when the call fails.
template<typename Request>
VmResult<void> until_done(int fd, unsigned long command, Request& request, __s64 Request::*progress,
    std::size_t* done, const char* what) noexcept
{
    *done = 0;
    while (ioctl(fd, command, &request) != 0) {
        int error = errno;
        __s64 part = request.*progress;
        if (part > 0)
            *done += static_cast<std::size_t>(part);
        if (error != EAGAIN || part <= 0)
            return vm_fail(error, what);
        request.dst += static_cast<std::uint64_t>(part);
        request.src += static_cast<std::uint64_t>(part);
        request.len -= static_cast<std::uint64_t>(part);
        request.*progress = 0;
    }
    *done += request.len;
    return {};
}
} // namespace

VmResult<void> Userfaultfd::copy(VirtAddr destination, const void* source, std::size_t bytes, bool protect) noexcept
{
    if (int injected = take_injected_map_error())
        return vm_fail(injected, "UFFDIO_COPY failed");
    uffdio_copy request {};
    request.dst = destination.get();
    request.src = reinterpret_cast<std::uintptr_t>(source);
    request.len = bytes;
    request.mode = UFFDIO_COPY_MODE_DONTWAKE | (protect ? UFFDIO_COPY_MODE_WP : 0);
    std::size_t copied = 0;
    return until_done(m_fd, UFFDIO_COPY, request, &uffdio_copy::copy, &copied, "UFFDIO_COPY failed");
}

VmResult<void> Userfaultfd::zeropage(VirtAddr start, std::size_t bytes) noexcept
{
    if (int injected = take_injected_map_error())
        return vm_fail(injected, "UFFDIO_ZEROPAGE failed");
    uffdio_zeropage request {};
    request.range.start = start.get();
    request.range.len = bytes;
    request.mode = UFFDIO_ZEROPAGE_MODE_DONTWAKE;
    if (ioctl(m_fd, UFFDIO_ZEROPAGE, &request) != 0)
        return vm_fail(errno, "UFFDIO_ZEROPAGE failed");
    return {};
}

VmResult<void> Userfaultfd::set_write_protect(VirtAddr start, std::size_t bytes, bool protect) noexcept
{
    uffdio_writeprotect request {};
    request.range.start = start.get();
    request.range.len = bytes;
    // (The kernel takes DONTWAKE only with the protection off: nobody waits on a protect.)
    request.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : UFFDIO_WRITEPROTECT_MODE_DONTWAKE;
    if (ioctl(m_fd, UFFDIO_WRITEPROTECT, &request) != 0)
        return vm_fail(errno, "UFFDIO_WRITEPROTECT failed");
    return {};
}

VmResult<void> Userfaultfd::move(VirtAddr destination, VirtAddr source, std::size_t bytes,
    std::size_t* moved) noexcept
{
    uffdio_move request {};
    request.dst = destination.get();
    request.src = source.get();
    request.len = bytes;
    request.mode = UFFDIO_MOVE_MODE_DONTWAKE;
    return until_done(m_fd, UFFDIO_MOVE, request, &uffdio_move::move, moved, "UFFDIO_MOVE failed");
}

void Userfaultfd::wake(VirtAddr start, std::size_t bytes) noexcept
{
    uffdio_range range { start.get(), bytes };
    (void)ioctl(m_fd, UFFDIO_WAKE, &range);
}

int Userfaultfd::read_faults(Fault* out, int max) noexcept
{
    uffd_msg messages[32];
    if (max > 32)
        max = 32;
    ssize_t bytes = sys_read(m_fd, messages, sizeof(uffd_msg) * static_cast<std::size_t>(max));
    if (bytes < 0)
        return errno == EAGAIN ? 0 : -errno;
    int count = 0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(bytes) / sizeof(uffd_msg); ++i) {
        if (messages[i].event != UFFD_EVENT_PAGEFAULT)
            continue;
        out[count++] = Fault { static_cast<std::uintptr_t>(messages[i].arg.pagefault.address),
            (messages[i].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE) != 0,
            messages[i].arg.pagefault.feat.ptid };
    }
    return count;
}

} // namespace vmemu::os
