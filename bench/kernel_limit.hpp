#pragma once
// The kernel's side of the benchmarks that compare vmemu with the kernel under memory pressure:
// a swap file of its own, swapon'd, and a memory cgroup (v1) with a limit, both removed when
// the object goes. Needs root; error() says what failed otherwise.
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <sys/swap.h>
#include <unistd.h>
#include <vmemu/swap/swap_header.hpp>

class KernelLimit {
public:
    KernelLimit(const std::string& swap_dir, std::size_t limit_bytes, std::size_t swap_bytes)
    {
        m_swap_path = swap_dir + "/vmemu-bench-" + std::to_string(getpid()) + ".swap";
        m_cgroup = "/sys/fs/cgroup/memory/vmemu-bench-" + std::to_string(getpid());
        int fd = open(m_swap_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || posix_fallocate(fd, 0, static_cast<off_t>(swap_bytes)) != 0) {
            fail("cannot create the swap file");
            if (fd >= 0)
                close(fd);
            return;
        }
        constexpr std::size_t kPage = 4096;
        alignas(4096) static std::byte header[kPage];
        vmemu::SwapHeaderInfo info;
        info.last_page = static_cast<std::uint32_t>(swap_bytes / kPage - 1);
        info.uuid = vmemu::SwapHeaderInfo::random_uuid();
        info.label = "vmemu-bench";
        (void)info.encode(header);
        bool written = pwrite(fd, header, kPage, 0) == static_cast<ssize_t>(kPage) && fsync(fd) == 0;
        close(fd);
        if (!written || swapon(m_swap_path.c_str(), 0) != 0) {
            fail("swapon failed");
            return;
        }
        m_swap_on = true;
        if (mkdir(m_cgroup.c_str(), 0755) != 0) {
            fail("cannot create the memory cgroup (cgroup v1 at /sys/fs/cgroup/memory)");
            return;
        }
        m_cgroup_made = true;
        if (!write_file(m_cgroup + "/memory.limit_in_bytes", std::to_string(limit_bytes)))
            fail("cannot set memory.limit_in_bytes");
    }
    ~KernelLimit()
    {
        if (m_cgroup_made)
            rmdir(m_cgroup.c_str());
        if (m_swap_on)
            swapoff(m_swap_path.c_str());
        unlink(m_swap_path.c_str());
    }
    bool ready() const { return m_error.empty(); }
    const std::string& error() const { return m_error; }
    bool enter() const { return write_file(m_cgroup + "/cgroup.procs", std::to_string(getpid())); }

private:
    static bool write_file(const std::string& path, const std::string& text)
    {
        std::ofstream out(path);
        out << text;
        out.flush();
        return static_cast<bool>(out);
    }
    void fail(const std::string& what)
    {
        if (m_error.empty())
            m_error = what + " (" + std::strerror(errno) + ")";
    }

    std::string m_swap_path;
    std::string m_cgroup;
    bool m_swap_on { false };
    bool m_cgroup_made { false };
    std::string m_error;
};

