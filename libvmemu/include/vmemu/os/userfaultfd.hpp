#pragma once
// userfaultfd(2): thin wrappers that return the kernel's errno and hold no policy.
#include <cstddef>
#include <cstdint>
#include <vmemu/base/virt_addr.hpp>
#include <vmemu/base/vm_error.hpp>

namespace vmemu::os {

// One userfaultfd, with UFFDIO_MOVE and the faulting thread's id in its messages, and with
// write-protect faults on anonymous memory where the kernel has them. Kernel-mode
// faults are caught when the process may (CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=1);
// otherwise it is UFFD_USER_MODE_ONLY and the kernel's own accesses fail with EFAULT.
class Userfaultfd {
public:
    // How a fault on a missing page reaches vmemu: as a message that a thread reads from the
    // descriptor, the faulting thread sleeping until UFFDIO_WAKE; or, with UFFD_FEATURE_SIGBUS,
    // as a SIGBUS (BUS_ADRERR at the address) in the faulting thread itself, which resolves it
    // and retries, and the kernel's own accesses then fail with EFAULT as for PROT_NONE.
    enum class Delivery : std::uint8_t { Message, Sigbus };

    struct Fault {
        std::uintptr_t address;
        bool write;
        std::uint32_t tid;
    };

    // EPERM or ENOSYS without userfaultfd, EINVAL without UFFDIO_MOVE (kernels before 6.8).
    static VmResult<Userfaultfd> open(Delivery delivery) noexcept;
    Userfaultfd(Userfaultfd&& other) noexcept
        : m_fd(other.m_fd)
        , m_user_mode_only(other.m_user_mode_only)
        , m_write_protect(other.m_write_protect)
        , m_delivery(other.m_delivery)
    {
        other.m_fd = -1;
    }
    Userfaultfd& operator=(Userfaultfd&& other) noexcept;
    ~Userfaultfd();

    int fd() const { return m_fd; }
    bool user_mode_only() const { return m_user_mode_only; }
    // Whether pages can be write-protected (UFFD_FEATURE_PAGEFAULT_FLAG_WP): a write to such a
    // page is a fault, delivered as a missing page's is.
    bool write_protect() const { return m_write_protect; }
    Delivery delivery() const { return m_delivery; }

    // UFFDIO_REGISTER for missing pages, and for write-protect faults where the kernel has them.
    VmResult<void> register_range(VirtAddr start, std::size_t bytes) noexcept;
    // UFFDIO_REGISTER for write-protect faults only, of memory that is to be a UFFDIO_MOVE
    // destination (which must be registered) and whose missing pages must not fault: nothing
    // there is ever write-protected. Needs write_protect().
    VmResult<void> register_move_target(VirtAddr start, std::size_t bytes) noexcept;
    // UFFDIO_COPY of bytes from source to the missing pages at destination, without waking
    // the threads that wait there; write-protected with protect.
    VmResult<void> copy(VirtAddr destination, const void* source, std::size_t bytes, bool protect = false) noexcept;
    // UFFDIO_ZEROPAGE: the kernel's zero page at the missing pages of [start, start + bytes).
    VmResult<void> zeropage(VirtAddr start, std::size_t bytes) noexcept;
    // UFFDIO_WRITEPROTECT of the present pages of [start, start + bytes), on or off, without
    // waking the threads that wait there.
    VmResult<void> set_write_protect(VirtAddr start, std::size_t bytes, bool protect) noexcept;
    // UFFDIO_MOVE of the pages at source to the missing pages at destination; *moved says how
    // many bytes went, also when it fails part way.
    VmResult<void> move(VirtAddr destination, VirtAddr source, std::size_t bytes, std::size_t* moved) noexcept;
    // UFFDIO_WAKE of the threads waiting in [start, start + bytes).
    void wake(VirtAddr start, std::size_t bytes) noexcept;
    // Reads up to max page faults without waiting (poll() the descriptor for that); the count,
    // 0 when none or only other events came, or -errno.
    int read_faults(Fault* out, int max) noexcept;

private:
    Userfaultfd(int fd, bool user_mode_only, bool write_protect, Delivery delivery)
        : m_fd(fd)
        , m_user_mode_only(user_mode_only)
        , m_write_protect(write_protect)
        , m_delivery(delivery)
    {
    }

    int m_fd;
    bool m_user_mode_only;
    bool m_write_protect;
    Delivery m_delivery;
};

} // namespace vmemu::os
