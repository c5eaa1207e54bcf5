// The syscall table and the pins of one system call (fault/syscall_table.hpp,
// fault/syscall_pins.hpp), on an address space of the library's own.
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/ioctl.h>
#include <linux/seccomp.h>
#include <sys/socket.h>
#include <string>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <vmemu/fault/kept_user_memory.hpp>
#include <vmemu/fault/syscall_pins.hpp>
#include <vmemu/fault/syscall_table.hpp>
#include "test_support.hpp"

namespace vmemu {
namespace {

using test::map_anon;

TEST(SyscallTable, EveryEntryIsConsistent)
{
    int described = 0;
    for (long nr = 0; nr < kSyscallTableSize; ++nr) {
        const SyscallSpec* spec = syscall_spec(nr);
        if (!spec)
            continue;
        ++described;
        for (int i = 0; i < 6; ++i) {
            const ArgumentSpec& argument = spec->arguments[i];
            SCOPED_TRACE(std::string(spec->name) + " argument " + std::to_string(i));
            EXPECT_LT(argument.size_from, 6);
            EXPECT_NE(argument.size_from, i);
            bool counted = argument.kind == UserArgument::IovecIn || argument.kind == UserArgument::IovecOut
                || argument.kind == UserArgument::MmsghdrIn || argument.kind == UserArgument::MmsghdrOut
                || argument.kind == UserArgument::SocklenOut;
            if (counted) {
                EXPECT_GE(argument.size_from, 0);
            }
            if (argument.kind == UserArgument::In || argument.kind == UserArgument::Out
                || argument.kind == UserArgument::InOut) {
                EXPECT_TRUE(argument.size_from >= 0 || argument.bytes > 0) << "a structure of no size";
            }
            if (argument.shortenable) {
                EXPECT_GE(argument.size_from, 0) << "a shortenable length must be an argument";
            }
        }
    }
    EXPECT_GT(described, 300);
    EXPECT_EQ(syscall_spec(kSyscallTableSize), nullptr);
    EXPECT_EQ(syscall_spec(-1), nullptr);
}

TEST(SyscallTable, NumbersNameTheirCalls)
{
    // The entries sit at the numbers the C library gives the calls.
    struct Known {
        long nr;
        const char* name;
    };
    for (Known known : { Known { SYS_read, "read" }, Known { SYS_openat, "openat" }, Known { SYS_futex, "futex" },
             Known { SYS_newfstatat, "newfstatat" }, Known { SYS_preadv2, "preadv2" }, Known { SYS_statx, "statx" },
             Known { SYS_process_vm_readv, "process_vm_readv" }, Known { SYS_copy_file_range, "copy_file_range" },
             Known { SYS_recvmmsg, "recvmmsg" }, Known { SYS_epoll_pwait2, "epoll_pwait2" },
             Known { SYS_getrandom, "getrandom" }, Known { SYS_execveat, "execveat" } }) {
        const SyscallSpec* spec = syscall_spec(known.nr);
        ASSERT_NE(spec, nullptr) << known.name;
        EXPECT_STREQ(spec->name, known.name);
    }
}

class SyscallPinsTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_machine = test::make_swapping_machine(1024, 32 * test::kMiB, false);
        m_space = test::make_space(*m_machine);
    }
    // A buffer of pages written and then swapped out, out of the kernel's view.
    VirtAddr swapped_out(std::size_t pages)
    {
        VirtAddr buffer = map_anon(*m_space, pages * kPageSize);
        std::memset(buffer.ptr<char>(), 'x', pages * kPageSize);
        VirtAddr other = map_anon(*m_space, 2048 * kPageSize);
        std::memset(other.ptr<char>(), 'y', 2048 * kPageSize);
        (void)m_machine->reclaim(m_machine->frame_count());
        m_machine->wait_for_swap_io();
        return buffer;
    }

    std::unique_ptr<Machine> m_machine;
    std::unique_ptr<AddressSpace> m_space;
};

TEST_F(SyscallPinsTest, ReadIntoASwappedOutBufferGetsItPinned)
{
    VirtAddr buffer = swapped_out(64);
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    std::string data(64 * kPageSize, 'r');
    {
        SyscallPins pins(*m_space);
        long args[6] = { fds[0], static_cast<long>(buffer.get()), static_cast<long>(64 * kPageSize) };
        pins.pin_call(SYS_read, args);
        EXPECT_TRUE(pins.touched_emulated_memory());
        EXPECT_EQ(pins.pinned_pages(), 64u);
        EXPECT_EQ(args[2], static_cast<long>(64 * kPageSize)) << "a length that fits is not cut";
        (void)m_machine->reclaim(m_machine->frame_count());
        for (std::size_t done = 0; done < data.size(); done += 65536) {
            ASSERT_EQ(write(fds[1], data.data() + done, 65536), 65536);
            // The raw call, as the kernel sees it: EFAULT if a page were out of its view.
            ASSERT_EQ(syscall(SYS_read, fds[0], buffer.ptr<char>() + done, 65536), 65536);
        }
    }
    EXPECT_EQ(buffer.ptr<char>()[64 * kPageSize - 1], 'r');
    close(fds[0]);
    close(fds[1]);
    m_space->verify_invariants();
}

TEST_F(SyscallPinsTest, ALongTransferIsCutToThePinsAndOtherLengthsAreNot)
{
    VirtAddr buffer = map_anon(*m_space, 600 * kPageSize);
    SyscallPins pins(*m_space);
    long args[6] = { 0, static_cast<long>(buffer.get() + 100), static_cast<long>(600 * kPageSize - 100) };
    pins.pin_call(SYS_read, args);
    EXPECT_EQ(pins.pinned_pages(), SyscallPins::kMaxPages);
    EXPECT_EQ(args[2], static_cast<long>(SyscallPins::kMaxPages * kPageSize - 100));
    SyscallPins more(*m_space);
    long getcwd_args[6] = { static_cast<long>(buffer.get()), static_cast<long>(600 * kPageSize) };
    more.pin_call(SYS_getcwd, getcwd_args);
    EXPECT_EQ(getcwd_args[1], static_cast<long>(600 * kPageSize)) << "getcwd's size is not a transfer";
}

TEST_F(SyscallPinsTest, StringsIovecsAndIoctlsPinWhatTheyName)
{
    VirtAddr block = map_anon(*m_space, 8 * kPageSize);
    // A path across a page boundary.
    char* path = block.ptr<char>() + kPageSize - 3;
    std::strcpy(path, "/tmp/x");
    {
        SyscallPins pins(*m_space);
        long args[6] = { AT_FDCWD, reinterpret_cast<long>(path), 0 };
        pins.pin_call(SYS_openat, args);
        EXPECT_EQ(pins.pinned_pages(), 2u);
    }
    // An iovec array on page 3 naming pages 4-5 and an unmapped range: the count is cut to
    // the vectors that could be pinned.
    auto* vectors = reinterpret_cast<iovec*>(block.ptr<char>() + 3 * kPageSize);
    vectors[0] = { block.ptr<char>() + 4 * kPageSize, 2 * kPageSize };
    VirtAddr gone = map_anon(*m_space, kPageSize);
    ASSERT_TRUE(m_space->munmap(gone, kPageSize).has_value());
    vectors[1] = { gone.ptr<void>(), 16 };
    ASSERT_TRUE(m_space->in_reservation(gone));
    {
        SyscallPins pins(*m_space);
        long args[6] = { 0, reinterpret_cast<long>(vectors), 2 };
        pins.pin_call(SYS_readv, args);
        EXPECT_EQ(pins.pinned_pages(), 3u); // the array's page, the buffer's two
        EXPECT_EQ(args[2], 1);
    }
    // 300 vectors in one array, naming 8 pages between them: the array's two pages and a pin
    // for each vector, within the pins' room, so the count is not cut.
    auto* many = reinterpret_cast<iovec*>(block.ptr<char>());
    VirtAddr big = map_anon(*m_space, 8 * kPageSize);
    for (int i = 0; i < 300; ++i)
        many[i] = { big.ptr<char>() + (i % 8) * kPageSize, 8 };
    {
        SyscallPins pins(*m_space);
        long args[6] = { 0, reinterpret_cast<long>(many), 300 };
        pins.pin_call(SYS_writev, args);
        EXPECT_EQ(args[2], 300);
        EXPECT_EQ(pins.pinned_pages(), 2u + 300u); // 300 * 16 bytes over two pages
    }
    // An argv of 200 strings in one page of pointers and one of text: one pin for the array's
    // page, and one for each string (each on the text page).
    auto** argv = reinterpret_cast<char**>(block.ptr<char>() + 6 * kPageSize);
    char* text = block.ptr<char>() + 7 * kPageSize;
    for (int i = 0; i < 200; ++i) {
        std::strcpy(text + i * 4, "ab");
        argv[i] = text + i * 4;
    }
    argv[200] = nullptr;
    {
        SyscallPins pins(*m_space);
        long args[6] = { reinterpret_cast<long>(text), reinterpret_cast<long>(argv), 0 };
        pins.pin_call(SYS_execve, args);
        EXPECT_EQ(pins.pinned_pages(), 1u + 1u + 200u);
    }
    // An ioctl that encodes 24 bytes read by the kernel from the end of a page.
    {
        SyscallPins pins(*m_space);
        long args[6] = { 0, static_cast<long>(_IOW('x', 1, char[24])), static_cast<long>(block.get() + 6 * kPageSize - 8) };
        pins.pin_call(SYS_ioctl, args);
        EXPECT_EQ(pins.pinned_pages(), 2u);
    }
}

TEST_F(SyscallPinsTest, StructuresThatPointFurtherPinWhatTheyPointTo)
{
    VirtAddr block = map_anon(*m_space, 16 * kPageSize);
    auto page = [&](int i) { return block.ptr<char>() + i * kPageSize; };
    // futex_waitv: the array across pages 0 and 1, and a futex word on each of pages 3 and 5.
    auto* waiters = reinterpret_cast<futex_waitv*>(page(1) - 8);
    waiters[0] = { 0, reinterpret_cast<std::uint64_t>(page(3)), 0, 0 };
    waiters[1] = { 0, reinterpret_cast<std::uint64_t>(page(5) + 8), 0, 0 };
    {
        SyscallPins pins(*m_space);
        long args[6] = { reinterpret_cast<long>(waiters), 2 };
        pins.pin_call(SYS_futex_waitv, args);
        EXPECT_EQ(pins.pinned_pages(), 4u);
    }
    // pselect6's sigset pair, on page 6, naming a set across pages 7 and 8.
    auto* pair = reinterpret_cast<long*>(page(6));
    pair[0] = reinterpret_cast<long>(page(8) - 4);
    pair[1] = 8;
    {
        SyscallPins pins(*m_space);
        long args[6] = { 0, 0, 0, 0, 0, reinterpret_cast<long>(pair) };
        pins.pin_call(SYS_pselect6, args);
        EXPECT_EQ(pins.pinned_pages(), 3u);
    }
    // A seccomp filter: the sock_fprog on page 9, 1024 instructions on pages 10 and 11.
    auto* program = reinterpret_cast<sock_fprog*>(page(9));
    program->len = 1024;
    program->filter = reinterpret_cast<sock_filter*>(page(10));
    for (long operation : { long { SECCOMP_SET_MODE_FILTER }, long { SECCOMP_GET_ACTION_AVAIL } }) {
        SyscallPins pins(*m_space);
        long args[6] = { operation, 0, reinterpret_cast<long>(program) };
        pins.pin_call(SYS_seccomp, args);
        // The conservative 4 KiB from the pointer, and the filter only for the operation that has one.
        EXPECT_EQ(pins.pinned_pages(), operation == SECCOMP_SET_MODE_FILTER ? 3u : 1u);
    }
    {
        SyscallPins pins(*m_space);
        long args[6] = { 0, SOL_SOCKET, SO_ATTACH_FILTER, reinterpret_cast<long>(program), sizeof(sock_fprog) };
        pins.pin_call(SYS_setsockopt, args);
        EXPECT_EQ(pins.pinned_pages(), 3u);
    }
    // msgsnd: the mtype and then 6000 bytes, from the end of page 12 into page 14.
    {
        SyscallPins pins(*m_space);
        long args[6] = { 0, reinterpret_cast<long>(page(13) - 4), 6000 };
        pins.pin_call(SYS_msgsnd, args);
        EXPECT_EQ(pins.pinned_pages(), 3u);
    }
}

TEST(KeptUserMemory, CallsThatKeepPagesAreRefusedOrCopy)
{
    long zerocopy[6] = { 0, SOL_SOCKET, 60 /* SO_ZEROCOPY */ };
    EXPECT_EQ(refused_for_kept_memory(SYS_setsockopt, zerocopy), EOPNOTSUPP);
    long buffer_size[6] = { 0, SOL_SOCKET, SO_SNDBUF };
    EXPECT_EQ(refused_for_kept_memory(SYS_setsockopt, buffer_size), 0);
    long none[6] = {};
    EXPECT_EQ(refused_for_kept_memory(SYS_io_uring_setup, none), ENOSYS);
    EXPECT_EQ(refused_for_kept_memory(SYS_io_setup, none), ENOSYS);
    EXPECT_EQ(refused_for_kept_memory(SYS_read, none), 0);
    // vmsplice into a pipe's write end is a writev; out of its read end it stays.
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    long into[6] = { fds[1], 0, 1, 4 /* SPLICE_F_GIFT */ };
    EXPECT_EQ(copying_call(SYS_vmsplice, into), SYS_writev);
    EXPECT_EQ(into[3], 0);
    long out_of[6] = { fds[0], 0, 1, 0 };
    EXPECT_EQ(copying_call(SYS_vmsplice, out_of), SYS_vmsplice);
    long bad[6] = { -1, 0, 1, 0 };
    EXPECT_EQ(copying_call(SYS_vmsplice, bad), SYS_vmsplice) << "the kernel gives the EBADF";
    EXPECT_EQ(copying_call(SYS_write, into), SYS_write);
    close(fds[0]);
    close(fds[1]);
}

TEST_F(SyscallPinsTest, UnknownCallsPinConservativelyAndForeignMemoryIsLeftAlone)
{
    VirtAddr block = map_anon(*m_space, 4 * kPageSize);
    {
        SyscallPins pins(*m_space);
        long args[6] = { static_cast<long>(block.get() + kPageSize), 5, 0 };
        pins.pin_call(kSyscallTableSize + 3, args); // a number the table does not know
        EXPECT_EQ(pins.pinned_pages(), 1u);
    }
    char outside[64];
    SyscallPins pins(*m_space);
    long args[6] = { 0, reinterpret_cast<long>(outside), sizeof outside };
    pins.pin_call(SYS_read, args);
    EXPECT_FALSE(pins.touched_emulated_memory());
    EXPECT_EQ(pins.pinned_pages(), 0u);
    EXPECT_EQ(args[2], static_cast<long>(sizeof outside));
}

} // namespace
} // namespace vmemu
