#pragma once
// What each x86-64 system call reads and writes of the caller's memory, as its pointer
// arguments and their sizes: the table by which the SIGSYS handler of Syscall User Dispatch
// pins a diverted call's memory before the kernel sees it (syscall_user_dispatch.hpp).
// A call the table does not describe is treated conservatively: every argument that points
// into emulated memory gets the 4 KiB from it pinned, writable.
#include <cstddef>
#include <cstdint>

namespace vmemu {

enum class UserArgument : std::uint8_t {
    None,
    In,           // read by the kernel: `bytes`, or the value of argument `size_from`
    Out,          // written by the kernel
    InOut,        // both
    String,       // a NUL-terminated string (a path)
    StringVector, // a NULL-terminated array of strings (argv, envp)
    IovecIn,      // an iovec array of `size_from` entries whose buffers the kernel reads
    IovecOut,     // the same, written
    MsghdrIn,     // a struct msghdr whose buffers the kernel reads (sendmsg)
    MsghdrOut,    // a struct msghdr whose buffers the kernel writes (recvmsg)
    MmsghdrIn,    // `size_from` struct mmsghdr for sendmmsg
    MmsghdrOut,   // the same for recvmmsg
    SocklenOut,   // written, as long as the socklen_t that argument `size_from` points to
    Ioctl,        // the size and direction that _IOC encodes in argument 1, else conservative
    FutexWaitv,   // `size_from` (or `bytes`) struct futex_waitv and the futex words they name
    SigsetPair,   // { const sigset_t*, size_t }, pselect6's and io_pgetevents' last argument
    SockFprog,    // a struct sock_fprog and its filter (seccomp, SO_ATTACH_FILTER)
    Unsized,      // a pointer the table cannot size: the conservative 4 KiB
};

struct ArgumentSpec {
    UserArgument kind { UserArgument::None };
    std::int8_t size_from { -1 }; // the argument holding the size or count, or -1
    std::uint16_t bytes { 0 };    // the fixed size when size_from is -1, else the unit
    // Whether the call may be given a shorter length (read, write: a short transfer).
    bool shortenable { false };
    std::uint8_t header { 0 }; // bytes ahead of the sized part (msgsnd's mtype)
};

struct SyscallSpec {
    const char* name { nullptr };
    ArgumentSpec arguments[6] {};
};

constexpr long kSyscallTableSize = 463;

// The description of nr, or nullptr when the table has none (the call is then conservative).
const SyscallSpec* syscall_spec(long nr) noexcept;

} // namespace vmemu
