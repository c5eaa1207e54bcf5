#pragma once
// Helpers of the file-mapping tests: a temporary file of known bytes, a machine, a mapping.
#include <cstdint>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>
#include "test_support.hpp"

namespace vmemu::test {

inline std::uint8_t pattern(std::uint64_t offset) { return static_cast<std::uint8_t>((offset * 131) ^ (offset >> 12)); }

// A file in /var/tmp filled with pattern(), removed when the test ends.
class TempFile {
public:
    explicit TempFile(std::size_t bytes, int flags = O_RDWR)
    {
        char name[] = "/var/tmp/vmemu-file-XXXXXX";
        int fd = ::mkstemp(name);
        EXPECT_GE(fd, 0);
        m_path = name;
        std::vector<std::uint8_t> bytes_out(bytes);
        for (std::size_t i = 0; i < bytes; ++i)
            bytes_out[i] = pattern(i);
        EXPECT_EQ(::pwrite(fd, bytes_out.data(), bytes, 0), static_cast<ssize_t>(bytes));
        ::close(fd);
        m_fd = ::open(name, flags | O_CLOEXEC);
        EXPECT_GE(m_fd, 0);
    }
    ~TempFile()
    {
        ::close(m_fd);
        ::unlink(m_path.c_str());
    }
    int fd() const { return m_fd; }
    const std::string& path() const { return m_path; }
    std::vector<std::uint8_t> contents() const
    {
        int fd = ::open(m_path.c_str(), O_RDONLY | O_CLOEXEC);
        std::vector<std::uint8_t> out(static_cast<std::size_t>(::lseek(fd, 0, SEEK_END)));
        EXPECT_EQ(::pread(fd, out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
        ::close(fd);
        return out;
    }

private:
    std::string m_path;
    int m_fd { -1 };
};

inline std::unique_ptr<Machine> make_file_machine(std::size_t frames, bool swap = false)
{
    MachineConfig config { .frames = frames };
    if (swap)
        config.swap = SwapDeviceConfig { .bytes = 64 * test::kMiB };
    auto machine = Machine::create(config);
    EXPECT_TRUE(machine.has_value()) << (machine ? "" : machine.error().what());
    return std::move(*machine);
}

inline VirtAddr map_file(AddressSpace& space, int fd, std::size_t bytes, int flags, off_t offset = 0,
    int prot = PROT_READ | PROT_WRITE)
{
    auto address = space.mmap(VirtAddr(), bytes, prot, flags, fd, offset);
    EXPECT_TRUE(address.has_value()) << (address ? "" : address.error().what());
    return address.value_or(VirtAddr());
}

// The kernel's own mapping of the same file, for a test to compare with (nullptr on failure,
// which the test asserts against).
inline std::uint8_t* kernel_map_file(int fd, std::size_t bytes, int flags, off_t offset = 0,
    int prot = PROT_READ | PROT_WRITE)
{
    void* address = ::mmap(nullptr, bytes, prot, flags, fd, offset);
    return address == MAP_FAILED ? nullptr : static_cast<std::uint8_t*>(address);
}

} // namespace vmemu::test
