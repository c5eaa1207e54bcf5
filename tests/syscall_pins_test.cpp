// The syscall table and the pins of one system call (fault/syscall_table.hpp,
// fault/syscall_pins.hpp), on an address space of the library's own.
#include <cstring>
#include <fcntl.h>
#include <linux/ioctl.h>
#include <string>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
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
