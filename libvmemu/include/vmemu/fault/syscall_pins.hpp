#pragma once
// The pins that hold a system call's memory in the kernel's view while the kernel uses it.
#include <cstddef>
#include <cstdint>

namespace vmemu {

class AddressSpace;
struct PageFrame;

// pin_user_pages() for one diverted system call: pin_call() reads the call's pointer
// arguments as the syscall table describes them (syscall_table.hpp) and pins every page of
// them that lies in the address space's reservation; the destructor unpins. A string or
// vector is read where the program reads it, once pinned, page by page.
// At most kMaxPages pages: a transfer that may be short (read, write and their vectored
// forms) is shortened to what was pinned, as read(2) may always return less; anything else
// beyond the limit is passed on unpinned, and the kernel gives EFAULT where it finds a page
// missing. Memory that is not the space's, or not mapped in it, is left to the kernel as is.
// Not thread-safe: one per call, on the stack of the thread making it (4 KiB of it).
class SyscallPins {
public:
    static constexpr std::size_t kMaxPages = 480;

    // Whether faults and pins run with the asynchronous signals blocked, so that no handler of
    // the program can run while vmemu's locks are held (the SIGSYS handler, whose mask is the
    // program's), or as the rest of the thread's vmemu code runs.
    enum class Signals : bool { Block, AsTheyAre };

    // cppcheck-suppress uninitMemberVar ; m_pages[0, m_count) is all that is read, and zeroing 4 KiB on every call would cost more than most calls
    explicit SyscallPins(AddressSpace& space, Signals signals = Signals::Block) noexcept
        : m_space(space)
        , m_block_signals(signals == Signals::Block)
    {
    }
    ~SyscallPins();
    SyscallPins(const SyscallPins&) = delete;
    SyscallPins& operator=(const SyscallPins&) = delete;

    // Pins the memory of system call nr with arguments args; a shortenable length in args is
    // reduced to the bytes pinned.
    void pin_call(long nr, long* args) noexcept;
    // Whether any argument pointed into the reservation.
    bool touched_emulated_memory() const noexcept { return m_emulated; }
    std::size_t pinned_pages() const noexcept { return m_count; }

private:
    bool in_reservation(std::uintptr_t address) const noexcept;
    // Pins [address, address + bytes); returns how many of the bytes from address are pinned
    // (all of them when the range is not in the reservation).
    std::size_t pin(std::uintptr_t address, std::size_t bytes, bool write) noexcept;
    // Pins a NUL-terminated string, page by page until its end.
    void pin_string(std::uintptr_t address) noexcept;
    void pin_string_vector(std::uintptr_t address) noexcept;
    // Pins an iovec array and the buffers it names; returns how many entries are whole.
    std::size_t pin_iovecs(std::uintptr_t address, std::size_t count, bool write) noexcept;
    void pin_msghdr(std::uintptr_t address, bool write) noexcept;
    // Pins count struct futex_waitv and the futex word each names.
    void pin_futex_waitv(std::uintptr_t address, std::size_t count) noexcept;
    // Pins a { sigset_t*, size_t } pair and the set it names.
    void pin_sigset_pair(std::uintptr_t address) noexcept;
    // Pins a struct sock_fprog and its instructions.
    void pin_sock_fprog(std::uintptr_t address) noexcept;
    // Copies bytes at address, pinning them first when they are emulated memory.
    bool read_user(std::uintptr_t address, void* into, std::size_t bytes) noexcept;
    // Copies bytes at address, already pinned when they are emulated memory.
    bool copy_in(std::uintptr_t address, void* into, std::size_t bytes) noexcept;

    AddressSpace& m_space;
    PageFrame* m_pages[kMaxPages];
    std::size_t m_count { 0 };
    bool m_emulated { false };
    bool m_block_signals;
};

} // namespace vmemu
