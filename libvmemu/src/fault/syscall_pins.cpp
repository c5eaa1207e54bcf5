#include <algorithm>
#include <iterator>
#include <cstring>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <optional>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <vmemu/address_space.hpp>
#include <vmemu/fault/syscall_pins.hpp>
#include <vmemu/fault/syscall_table.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/os/syscall_gate.hpp>

namespace vmemu {
namespace {

constexpr std::size_t kConservativeBytes = kPageSize;
constexpr std::size_t kMaxStringPages = 32;    // MAX_ARG_STRLEN
constexpr std::size_t kMaxVectorEntries = 1024; // UIO_MAXIOV
constexpr std::size_t kMmsghdrBytes = 64;
constexpr std::size_t kMaxFutexWaiters = 128; // FUTEX_WAITV_MAX

std::size_t length_of(const ArgumentSpec& spec, const long* args)
{
    if (spec.size_from < 0)
        return spec.bytes;
    auto count = static_cast<std::size_t>(args[spec.size_from]);
    std::size_t unit = spec.bytes ? spec.bytes : 1;
    std::size_t bytes;
    if (__builtin_mul_overflow(count, unit, &bytes) || __builtin_add_overflow(bytes, spec.header, &bytes))
        return ~std::size_t { 0 };
    return bytes;
}

// The table's description of argument i, or what the call's operation says it points to
// where the table cannot know (a filter program behind seccomp's, prctl's or setsockopt's
// pointer).
ArgumentSpec argument_of(long nr, const long* args, int i, const SyscallSpec* spec)
{
    ArgumentSpec filter { UserArgument::SockFprog };
    if (nr == SYS_seccomp && i == 2 && args[0] == SECCOMP_SET_MODE_FILTER)
        return filter;
    if (nr == SYS_prctl && i == 2 && args[0] == PR_SET_SECCOMP && args[1] == SECCOMP_MODE_FILTER)
        return filter;
    if (nr == SYS_setsockopt && i == 3 && args[1] == SOL_SOCKET
        && (args[2] == SO_ATTACH_FILTER || args[2] == SO_ATTACH_REUSEPORT_CBPF))
        return filter;
    return spec ? spec->arguments[i] : ArgumentSpec { UserArgument::Unsized };
}

bool writes(UserArgument kind)
{
    return kind != UserArgument::In && kind != UserArgument::String && kind != UserArgument::StringVector
        && kind != UserArgument::IovecIn && kind != UserArgument::MsghdrIn && kind != UserArgument::MmsghdrIn
        && kind != UserArgument::FutexWaitv && kind != UserArgument::SigsetPair && kind != UserArgument::SockFprog;
}

} // namespace

SyscallPins::~SyscallPins()
{
    if (m_count == 0)
        return;
    std::optional<os::ScopedAsyncSignalBlock> signals;
    if (m_block_signals)
        signals.emplace();
    m_space.unpin_user_pages(m_pages, m_count);
}

bool SyscallPins::in_reservation(std::uintptr_t address) const noexcept
{
    return address && m_space.in_reservation(VirtAddr(address));
}

std::size_t SyscallPins::pin(std::uintptr_t address, std::size_t bytes, bool write) noexcept
{
    if (bytes == 0 || !in_reservation(address))
        return bytes;
    m_emulated = true;
    std::size_t offset = address & (kPageSize - 1);
    std::size_t room = kMaxPages - m_count;
    if (room == 0)
        return 0;
    if (bytes > room * kPageSize - offset)
        bytes = room * kPageSize - offset;
    std::size_t wanted = (offset + bytes + kPageSize - 1) / kPageSize;
    std::size_t pinned = m_space.pin_user_pages(VirtAddr(address), bytes, write, m_pages + m_count);
    m_count += pinned;
    if (pinned == wanted)
        return bytes;
    return pinned * kPageSize > offset ? pinned * kPageSize - offset : 0;
}

bool SyscallPins::copy_in(std::uintptr_t address, void* into, std::size_t bytes) noexcept
{
    if (in_reservation(address)) {
        // Pinned, the pages are mapped in the kernel's view and stay so: read where the
        // program reads them. (On the userfaultfd view that mapping is the frame's only one
        // while it lasts: UFFDIO_MOVE took the page out of the direct map.)
        std::memcpy(into, reinterpret_cast<const void*>(address), bytes);
        return true;
    }
    // Not vmemu's memory: read as the kernel would, EFAULT and not a crash for a bad pointer.
    iovec local { into, bytes };
    iovec remote { reinterpret_cast<void*>(address), bytes };
    long pid = os::gate_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0);
    return os::gate_syscall(SYS_process_vm_readv, pid, reinterpret_cast<long>(&local), 1, reinterpret_cast<long>(&remote), 1, 0)
        == static_cast<long>(bytes);
}

bool SyscallPins::read_user(std::uintptr_t address, void* into, std::size_t bytes) noexcept
{
    return pin(address, bytes, false) == bytes && copy_in(address, into, bytes);
}

void SyscallPins::pin_string(std::uintptr_t address) noexcept
{
    if (!in_reservation(address))
        return;
    for (std::size_t page = 0; page < kMaxStringPages; ++page) {
        std::size_t in_page = kPageSize - (address & (kPageSize - 1));
        if (pin(address, in_page, false) != in_page)
            return;
        if (std::memchr(reinterpret_cast<const void*>(address), 0, in_page))
            return;
        address += in_page;
    }
}

void SyscallPins::pin_string_vector(std::uintptr_t address) noexcept
{
    std::uintptr_t pinned_page = 0; // the page of the array pinned last, or 0
    for (std::size_t i = 0; address && i < kMaxVectorEntries * 128; ++i) {
        std::uintptr_t entry = address + i * sizeof(std::uintptr_t);
        std::uintptr_t page = entry & ~(kPageSize - 1);
        if (in_reservation(entry) && page != pinned_page) {
            // An entry is 8-byte aligned in any array of pointers, so never across two pages.
            if (pin(entry, sizeof(std::uintptr_t), false) != sizeof(std::uintptr_t))
                return;
            pinned_page = page;
        }
        std::uintptr_t string = 0;
        if (!copy_in(entry, &string, sizeof string) || !string)
            return;
        pin_string(string);
    }
}

std::size_t SyscallPins::pin_iovecs(std::uintptr_t address, std::size_t count, bool write) noexcept
{
    count = std::min(count, kMaxVectorEntries);
    // The array once, then its entries a few at a time.
    std::size_t readable = pin(address, count * sizeof(iovec), false) / sizeof(iovec);
    iovec vectors[32];
    for (std::size_t first = 0; first < readable; first += std::size(vectors)) {
        std::size_t batch = std::min(readable - first, std::size(vectors));
        if (!copy_in(address + first * sizeof(iovec), vectors, batch * sizeof(iovec)))
            return first;
        for (std::size_t i = 0; i < batch; ++i) {
            auto base = reinterpret_cast<std::uintptr_t>(vectors[i].iov_base);
            if (pin(base, vectors[i].iov_len, write) != vectors[i].iov_len)
                return first + i;
        }
    }
    return readable;
}

void SyscallPins::pin_msghdr(std::uintptr_t address, bool write) noexcept
{
    msghdr header {};
    if (pin(address, sizeof header, true) != sizeof header || !read_user(address, &header, sizeof header))
        return;
    pin(reinterpret_cast<std::uintptr_t>(header.msg_name), header.msg_namelen, write);
    pin_iovecs(reinterpret_cast<std::uintptr_t>(header.msg_iov), header.msg_iovlen, write);
    pin(reinterpret_cast<std::uintptr_t>(header.msg_control), header.msg_controllen, write);
}

void SyscallPins::pin_futex_waitv(std::uintptr_t address, std::size_t count) noexcept
{
    count = std::min(count, kMaxFutexWaiters);
    if (pin(address, count * sizeof(futex_waitv), false) != count * sizeof(futex_waitv))
        return;
    for (std::size_t i = 0; i < count; ++i) {
        futex_waitv waiter;
        if (!copy_in(address + i * sizeof waiter, &waiter, sizeof waiter))
            return;
        pin(static_cast<std::uintptr_t>(waiter.uaddr), sizeof(std::uint32_t), false);
    }
}

void SyscallPins::pin_sigset_pair(std::uintptr_t address) noexcept
{
    struct {
        std::uintptr_t set;
        std::size_t bytes;
    } pair;
    if (read_user(address, &pair, sizeof pair))
        pin(pair.set, std::min(pair.bytes, kPageSize), false);
}

void SyscallPins::pin_sock_fprog(std::uintptr_t address) noexcept
{
    sock_fprog program;
    if (read_user(address, &program, sizeof program))
        pin(reinterpret_cast<std::uintptr_t>(program.filter), program.len * sizeof(sock_filter), false);
}

void SyscallPins::pin_call(long nr, long* args) noexcept
{
    // Faults and pins take vmemu's locks: no handler of the program may run in between.
    std::optional<os::ScopedAsyncSignalBlock> signals;
    auto block = [&] {
        if (!signals && m_block_signals)
            signals.emplace();
    };
    const SyscallSpec* spec = syscall_spec(nr);
    for (int i = 0; i < 6; ++i) {
        ArgumentSpec argument = argument_of(nr, args, i, spec);
        auto address = static_cast<std::uintptr_t>(args[i]);
        if (argument.kind == UserArgument::None || address == 0)
            continue;
        bool write = writes(argument.kind);
        // The reservation's test is cheap; everything after it needs the signals blocked.
        bool emulated = in_reservation(address);
        if (emulated)
            block();
        switch (argument.kind) {
        case UserArgument::None:
            break;
        case UserArgument::In:
        case UserArgument::Out:
        case UserArgument::InOut: {
            if (!emulated)
                break;
            std::size_t bytes = length_of(argument, args);
            std::size_t pinned = pin(address, bytes, write);
            if (pinned < bytes && argument.shortenable && pinned > 0)
                args[argument.size_from] = static_cast<long>(pinned);
            break;
        }
        case UserArgument::String:
            pin_string(address);
            break;
        case UserArgument::FutexWaitv:
        case UserArgument::SigsetPair:
        case UserArgument::SockFprog:
            // A structure that may lie outside emulated memory and point into it.
            block();
            if (argument.kind == UserArgument::FutexWaitv)
                pin_futex_waitv(address, argument.size_from < 0 ? argument.bytes : static_cast<std::size_t>(args[argument.size_from]));
            else if (argument.kind == UserArgument::SigsetPair)
                pin_sigset_pair(address);
            else
                pin_sock_fprog(address);
            break;
        case UserArgument::StringVector:
        case UserArgument::IovecIn:
        case UserArgument::IovecOut:
        case UserArgument::MsghdrIn:
        case UserArgument::MsghdrOut:
        case UserArgument::MmsghdrIn:
        case UserArgument::MmsghdrOut:
            // The array may lie outside emulated memory and name buffers inside it.
            block();
            if (argument.kind == UserArgument::StringVector) {
                pin_string_vector(address);
            } else if (argument.kind == UserArgument::IovecIn || argument.kind == UserArgument::IovecOut) {
                auto count = static_cast<std::size_t>(args[argument.size_from]);
                std::size_t whole = pin_iovecs(address, count, write);
                if (whole < count && whole > 0 && count <= kMaxVectorEntries)
                    args[argument.size_from] = static_cast<long>(whole);
            } else if (argument.kind == UserArgument::MsghdrIn || argument.kind == UserArgument::MsghdrOut) {
                pin_msghdr(address, write);
            } else {
                std::size_t count = std::min(static_cast<std::size_t>(args[argument.size_from]), std::size_t { 64 });
                for (std::size_t k = 0; k < count; ++k)
                    pin_msghdr(address + k * kMmsghdrBytes, write);
            }
            break;
        case UserArgument::SocklenOut: {
            if (!emulated && !in_reservation(static_cast<std::uintptr_t>(args[argument.size_from])))
                break;
            block();
            socklen_t length = 0;
            if (read_user(static_cast<std::uintptr_t>(args[argument.size_from]), &length, sizeof length))
                pin(address, length, true);
            break;
        }
        case UserArgument::Ioctl: {
            if (!emulated)
                break;
            auto command = static_cast<unsigned long>(args[1]);
            unsigned direction = (command >> 30) & 3;
            std::size_t bytes = (command >> 16) & 0x3fff;
            if (direction != 0 && bytes != 0)
                pin(address, bytes, (direction & 2) != 0); // _IOC_READ: the kernel writes it
            else
                pin(address, kConservativeBytes, true);
            break;
        }
        case UserArgument::Unsized:
            if (emulated)
                pin(address, kConservativeBytes, true);
            break;
        }
    }
}

} // namespace vmemu
