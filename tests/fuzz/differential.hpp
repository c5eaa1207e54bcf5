#pragma once
// Differential testing of vmemu against the real kernel. The same operations run on a window
// of a vmemu address space and on a window of the process's own memory that the kernel
// manages, at the same offsets: mmap (anonymous, and shared or private of a file), munmap,
// mprotect, mremap, madvise, mlock, msync, reads and writes of random sizes, fork (of the
// address space; the kernel's side is a copy of the window, made as dup_mmap() would) with
// writes on either side, forced reclaim, and truncate and sync(2) of the file. Each side has
// its own file, the same bytes at the start. After every step the two must agree on:
//   - the errno of the call (0 for success);
//   - the outcome of every access: the bytes read, or the fault (SEGV_MAPERR, SEGV_ACCERR,
//     SIGBUS past the end of the file) and the address it stopped at;
//   - the VMAs in the window (start, end, permissions and offset in the file, as
//     /proc/PID/maps shows them, with neighbours that continue each other joined);
//   - the contents of every readable byte of the window;
//   - the file's size after a truncate, and its bytes on disk after msync(MS_SYNC) (the pages
//     synced) and sync(2) (all of it).
// The operations come from an OpSource: libFuzzer's input, or a seeded random generator for
// the deterministic replay that ctest runs.
// Not thread-safe: one Differential at a time per process (it owns the SIGSEGV handler while
// it runs).
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include <vmemu/vmemu.hpp>

namespace vmemu::fuzz {

class OpSource {
public:
    virtual ~OpSource() = default;
    // A number in [0, bound); bound > 0. Once the source is spent, 0.
    virtual std::uint32_t next(std::uint32_t bound) = 0;
    virtual bool spent() const = 0;
};

// The bytes of a fuzzer's input, read as a FuzzedDataProvider reads them.
class ByteSource final : public OpSource {
public:
    ByteSource(const std::uint8_t* data, std::size_t size)
        : m_data(data)
        , m_size(size)
    {
    }
    std::uint32_t next(std::uint32_t bound) override;
    bool spent() const override { return m_offset >= m_size; }

private:
    const std::uint8_t* m_data;
    std::size_t m_size;
    std::size_t m_offset { 0 };
};

// A seeded xorshift generator, for replays that are the same on every machine.
class SeededSource final : public OpSource {
public:
    explicit SeededSource(std::uint64_t seed)
        : m_state(seed * 0x9e3779b97f4a7c15ull + 1)
    {
    }
    std::uint32_t next(std::uint32_t bound) override;
    bool spent() const override { return false; }

private:
    std::uint64_t m_state;
};

class Differential {
public:
    static constexpr std::size_t kWindowPages = 64;
    static constexpr std::size_t kGuardPages = 16;
    static constexpr std::size_t kFilePages = 16; // the file's size at the start, about

    // A machine of frames frames with swap, and the two windows. Exits with a message when
    // the kernel's or vmemu's side cannot be set up.
    explicit Differential(std::size_t frames = 256);
    ~Differential();
    Differential(const Differential&) = delete;
    Differential& operator=(const Differential&) = delete;

    // Runs one operation drawn from source on both sides and compares them. Returns false at
    // the first difference; mismatch() says what it was and log() what led to it.
    bool step(OpSource& source);
    const std::string& mismatch() const { return m_mismatch; }
    const std::vector<std::string>& log() const { return m_log; }
    std::uint64_t steps() const { return m_steps; }
    std::uint64_t bytes_compared() const { return m_bytes_compared; }

private:
    // One side's window: where it is, and whether it is a forked child.
    struct Side {
        std::uintptr_t vmemu_base { 0 };
        std::uintptr_t kernel_base { 0 };
        AddressSpace* space { nullptr };
    };

    void op_mmap(OpSource& source, Side& side);
    void op_munmap(OpSource& source, Side& side);
    void op_mprotect(OpSource& source, Side& side);
    void op_madvise(OpSource& source, Side& side);
    void op_mremap(OpSource& source, Side& side);
    void op_mlock(OpSource& source, Side& side);
    void op_msync(OpSource& source, Side& side);
    void op_access(OpSource& source, Side& side, bool write);
    void op_fork();
    void op_reclaim(OpSource& source);
    void op_truncate(OpSource& source);
    void op_sync();
    // After a write of length bytes at offset of side's window: the bytes it put past the end
    // of the file through a shared mapping (see m_uncertain_tails).
    void note_writes_past_end(const Side& side, std::size_t offset, std::size_t length);
    // Forgets the uncertain tails no private copy can hold any more.
    void forget_settled_tails();
    // The kernel's copy of the parent's window into the child's, as dup_mmap() makes it.
    bool copy_kernel_window(const Side& from, const Side& to);

    void compare_errno(const char* what, int vmemu_error, int kernel_error);
    void compare_maps(const Side& side, const char* which);
    void compare_contents(const Side& side, const char* which);
    // The two files' bytes in [offset, offset + length), clipped to their size.
    void compare_files(std::uint64_t offset, std::uint64_t length, const char* after);
    void fail(std::string message);
    const char* side_name(const Side& side) const;

    std::unique_ptr<Machine> m_machine;
    std::unique_ptr<AddressSpace> m_space;
    std::unique_ptr<AddressSpace> m_child_space;
    Side m_parent;
    Side m_child;
    bool m_has_child { false };
    // The kernel's regions: guard, window, guard, for the parent and the child.
    void* m_kernel_regions[2] { nullptr, nullptr };
    // The files, removed from their directory at once: vmemu maps one, the kernel the other.
    int m_vmemu_file { -1 };
    int m_kernel_file { -1 };
    // The file pages whose bytes past the end of the file a shared mapping wrote: by page, the
    // offset in it from which they are uncertain. Writeback and reclaim zero such bytes in the
    // page cache at moments that differ between the two sides, and a private copy of the page
    // takes whatever is there then: those bytes of a private mapping of the page are not
    // compared, even after the file grows over them, while such a copy may exist.
    std::map<std::uint64_t, std::size_t> m_uncertain_tails;
    std::string m_mismatch;
    std::vector<std::string> m_log;
    std::uint64_t m_steps { 0 };
    std::uint64_t m_bytes_compared { 0 };
};

} // namespace vmemu::fuzz
