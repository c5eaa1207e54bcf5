#include <cerrno>
#include <cstdint>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vmemu/base/page.hpp>
#include <vmemu/fault/signal_stack.hpp>
#include <vmemu/fault/syscall_user_dispatch.hpp>
#include <vmemu/os/memory.hpp>

namespace vmemu {

namespace {

constexpr std::size_t kGuardBytes = kPageSize;
// <linux/signal.h>'s, which glibc's headers do not give, and the kernel's MINSIGSTKSZ on x86-64.
constexpr int kAutoDisarm = static_cast<int>(0x80000000u);
constexpr std::size_t kMinStackBytes = 2048;

int kernel_sigaltstack(const stack_t* stack, stack_t* old)
{
    return static_cast<int>(::syscall(SYS_sigaltstack, stack, old));
}

// This thread's stack (its lowest byte, above the guard page), and what the program believes.
// Trivially destructible, so that a signal handler may touch it first in a thread.
struct ThreadStack {
    void* base;
    stack_t believed;
};

thread_local ThreadStack t_stack __attribute__((tls_model("initial-exec"))) = { nullptr, { nullptr, SS_DISABLE, 0 } };

bool on_stack(const stack_t& stack, std::uintptr_t sp)
{
    auto low = reinterpret_cast<std::uintptr_t>(stack.ss_sp);
    return !(stack.ss_flags & SS_DISABLE) && sp - low <= stack.ss_size;
}

// Whether [address, address + bytes) is mapped at all, as the kernel's copy would find it:
// an address the program never mapped gives EFAULT, not a SIGSEGV in vmemu.
bool mapped(const void* address, std::size_t bytes)
{
    auto start = reinterpret_cast<std::uintptr_t>(address) & ~(kPageSize - 1);
    auto end = reinterpret_cast<std::uintptr_t>(address) + bytes;
    unsigned char residency[2];
    return ::syscall(SYS_mincore, start, end - start, residency) == 0;
}

} // namespace

bool SignalStack::install_for_current_thread() noexcept
{
    SyscallsAllowed allowed;
    ThreadStack& mine = t_stack;
    if (mine.base)
        return true;
    auto mapping = os::map_anonymous(kGuardBytes + kStackBytes);
    if (!mapping)
        return false;
    auto* low = static_cast<std::byte*>(*mapping);
    if (!os::protect(VirtAddr(reinterpret_cast<std::uintptr_t>(low)), kGuardBytes, os::HwProt::None)) {
        (void)os::unmap(low, kGuardBytes + kStackBytes);
        return false;
    }
    stack_t ours { low + kGuardBytes, 0, kStackBytes };
    stack_t program {};
    if (kernel_sigaltstack(&ours, &program) != 0) {
        // EPERM: the thread runs on its own alternate stack now; it keeps it.
        (void)os::unmap(low, kGuardBytes + kStackBytes);
        return false;
    }
    mine.base = low + kGuardBytes;
    mine.believed = program;
    return true;
}

void SignalStack::release_for_current_thread() noexcept
{
    SyscallsAllowed allowed;
    ThreadStack& mine = t_stack;
    if (!mine.base)
        return;
    stack_t off { nullptr, SS_DISABLE, 0 };
    if (kernel_sigaltstack(&off, nullptr) != 0)
        return; // on it now (a handler that ended the thread): it stays
    (void)os::unmap(static_cast<std::byte*>(mine.base) - kGuardBytes, kGuardBytes + kStackBytes);
    mine.base = nullptr;
    mine.believed = stack_t { nullptr, SS_DISABLE, 0 };
}

int SignalStack::program_sigaltstack(const stack_t* stack, stack_t* old) noexcept
{
    SyscallsAllowed allowed;
    ThreadStack& mine = t_stack;
    // A thread that vmemu's pthread_create() did not start (the first thread before an address
    // space attached, a ThreadSanitizer build) gets vmemu's stack when the program sets its own.
    if (!mine.base && !(stack && install_for_current_thread()))
        return kernel_sigaltstack(stack, old);
    if ((stack && !mapped(stack, sizeof *stack)) || (old && !mapped(old, sizeof *old))) {
        errno = EFAULT;
        return -1;
    }
    auto sp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
    stack_t previous = mine.believed;
    previous.ss_flags = (previous.ss_flags & SS_DISABLE) ? SS_DISABLE
        : on_stack(previous, sp)                         ? (previous.ss_flags & kAutoDisarm) | SS_ONSTACK
                                                         : previous.ss_flags & kAutoDisarm;
    if (stack) {
        stack_t wanted = *stack;
        int mode = wanted.ss_flags & ~kAutoDisarm;
        if (mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK) {
            errno = EINVAL;
            return -1;
        }
        if (previous.ss_flags & SS_ONSTACK) {
            errno = EPERM;
            return -1;
        }
        if (mode == SS_DISABLE) {
            wanted = stack_t { nullptr, SS_DISABLE, 0 };
        } else {
            if (wanted.ss_size < kMinStackBytes) {
                errno = ENOMEM;
                return -1;
            }
            wanted.ss_flags &= kAutoDisarm;
        }
        mine.believed = wanted;
    }
    if (old)
        *old = previous;
    return 0;
}

} // namespace vmemu
