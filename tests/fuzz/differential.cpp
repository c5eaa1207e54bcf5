#include "differential.hpp"
#include <algorithm>
#include <csetjmp>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vmemu/fs/read_write.hpp>
#include "../smaps_text.hpp"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

namespace vmemu::fuzz {

namespace {
constexpr std::size_t kWindowBytes = Differential::kWindowPages * kPageSize;
constexpr std::size_t kGuardBytes = Differential::kGuardPages * kPageSize;
// 64 TiB: below the program and its heap, far below the mappings the kernel places itself,
// and outside the address ranges AddressSanitizer keeps for itself.
constexpr std::uintptr_t kKernelRegionsAt = 0x400000000000;

// The SIGSEGV or SIGBUS of an access that faults, on either side: vmemu passes a fault it does
// not resolve to the program's handler, which this is.
sigjmp_buf g_recover;
volatile sig_atomic_t g_signal;
volatile sig_atomic_t g_si_code;

void on_fault(int signal, siginfo_t* info, void*)
{
    g_signal = signal;
    g_si_code = info->si_code;
    siglongjmp(g_recover, 1);
}

// The outcome of a run of byte accesses: how many were done before the first fault, and the
// fault's signal and si_code (0 for none).
struct Outcome {
    std::size_t done { 0 };
    int signal { 0 };
    int si_code { 0 };
};

Outcome access_bytes(volatile std::uint8_t* bytes, std::size_t length, bool write, std::uint8_t value,
    std::uint8_t* seen)
{
    static volatile std::size_t s_index;
    s_index = 0;
    if (sigsetjmp(g_recover, 1) != 0)
        return Outcome { s_index, g_signal, g_si_code };
    while (s_index < length) {
        std::size_t index = s_index;
        if (write)
            bytes[index] = static_cast<std::uint8_t>(value + index);
        else
            seen[index] = bytes[index];
        s_index = index + 1;
    }
    return Outcome { length, 0, 0 };
}

// One VMA inside a window, at offsets from the window's start; a file mapping's offset is
// where its start lies in the file.
struct Range {
    std::size_t start;
    std::size_t end;
    std::string perms;
    bool file { false };
    std::uint64_t offset { 0 };
    bool operator==(const Range&) const = default;
    bool shared() const { return perms[3] == 's'; }
    int prot() const
    {
        return (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) | (perms[2] == 'x' ? PROT_EXEC : 0);
    }
};

// Parses "start-end perms offset dev inode path" lines, keeping what lies in
// [base, base + kWindowBytes).
std::vector<Range> ranges_in(const std::string& text, std::uintptr_t base)
{
    std::vector<Range> ranges;
    test::for_each_line(text, [&](std::string_view line) {
        std::uintptr_t low = 0, high = 0;
        std::string_view perms;
        if (!test::parse_vma_head(line, low, high, perms))
            return;
        std::uintptr_t from = std::max<std::uintptr_t>(low, base);
        std::uintptr_t to = std::min<std::uintptr_t>(high, base + kWindowBytes);
        if (from >= to)
            return;
        // " offset dev inode": the offset in hex, the inode in decimal (0: anonymous).
        const char* fields = perms.data() + perms.size() + 1;
        const char* last = line.data() + line.size();
        std::uint64_t offset = 0;
        unsigned long inode = 0;
        const char* after_offset = std::from_chars(fields, last, offset, 16).ptr;
        const char* dev_end = std::find(std::min(after_offset + 1, last), last, ' ');
        std::from_chars(std::min(dev_end + 1, last), last, inode);
        Range range { from - base, to - base, std::string(perms), inode != 0, 0 };
        if (range.file)
            range.offset = offset + (from - low);
        ranges.push_back(range);
    });
    return ranges;
}

// Joins neighbours that continue each other: the same permissions, and the next page of the
// file for a file mapping.
std::vector<Range> merged(std::vector<Range> ranges)
{
    std::vector<Range> out;
    for (const Range& range : ranges) {
        Range* last = out.empty() ? nullptr : &out.back();
        if (last && last->end == range.start && last->perms == range.perms && last->file == range.file
            && (!range.file || last->offset + (last->end - last->start) == range.offset))
            last->end = range.end;
        else
            out.push_back(range);
    }
    return out;
}

std::string describe(const std::vector<Range>& ranges)
{
    std::string out;
    for (const Range& range : ranges) {
        char line[96];
        std::snprintf(line, sizeof line, " [%zx-%zx %s", range.start / kPageSize, range.end / kPageSize,
            range.perms.c_str());
        out += line;
        if (range.file) {
            std::snprintf(line, sizeof line, " file page %llx", static_cast<unsigned long long>(range.offset / kPageSize));
            out += line;
        }
        out += ']';
    }
    return out.empty() ? " (none)" : out;
}

// The file's size; 0 when fstat fails (which compare_files() then shows).
std::uint64_t file_size(int fd)
{
    struct stat st {};
    return ::fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// The bytes of range, from its start, that lie inside a file of size bytes; all of an
// anonymous range. Past them, the rest of the last page holds what a mapping wrote there
// until the page is written back (which zeroes it) or reclaimed, whose moments differ
// between the two sides: neither is compared. Past that page a touch is SIGBUS.
std::size_t bytes_inside_file(const Range& range, std::uint64_t size)
{
    std::size_t bytes = range.end - range.start;
    if (!range.file)
        return bytes;
    return range.offset >= size ? 0 : static_cast<std::size_t>(std::min<std::uint64_t>(bytes, size - range.offset));
}

// How many bytes, from the start of the page at at (in the window, inside range), are the
// same on both sides whenever they were copied: all but an uncertain tail of a private
// mapping of the file (Differential::m_uncertain_tails).
std::size_t certain_bytes(const std::map<std::uint64_t, std::size_t>& uncertain_tails, const Range& range, std::size_t at)
{
    if (!range.file || range.shared())
        return kPageSize;
    auto tail = uncertain_tails.find((range.offset + (at - range.start)) / kPageSize);
    return tail == uncertain_tails.end() ? kPageSize : tail->second;
}

// The VmFlags of each VMA in the window: "[start-end rd wr lo ...]", in pages of the window.
std::string vm_flags_in(const std::string& smaps, std::uintptr_t base)
{
    std::string out;
    test::for_each_smaps_vma(smaps, [&](std::uintptr_t low, std::uintptr_t high, const std::string& flags, unsigned long) {
        if (high <= base || low >= base + kWindowBytes)
            return;
        char range[64];
        std::snprintf(range, sizeof range, " [%zx-%zx", (std::max<std::uintptr_t>(low, base) - base) / kPageSize,
            (std::min<std::uintptr_t>(high, base + kWindowBytes) - base) / kPageSize);
        out += range + flags + "]";
    });
    return out;
}

std::string kernel_smaps() { return test::read_proc_text("/proc/self/smaps"); }

std::string kernel_maps() { return test::read_proc_text("/proc/self/maps"); }

int error_of(const VmResult<void>& result) { return result ? 0 : result.error().code(); }
template<typename T>
int error_of(const VmResult<T>& result)
{
    return result ? 0 : result.error().code();
}
int kernel_error(bool ok) { return ok ? 0 : errno; }

int prot_of(std::uint32_t choice)
{
    static constexpr int kProts[] = { PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE, PROT_WRITE, PROT_READ | PROT_EXEC };
    return kProts[choice % std::size(kProts)];
}
} // namespace

std::uint32_t ByteSource::next(std::uint32_t bound)
{
    std::uint32_t value = 0;
    for (std::uint32_t span = bound - 1; span != 0 && m_offset < m_size; span >>= 8)
        value = (value << 8) | m_data[m_offset++];
    return value % bound;
}

std::uint32_t SeededSource::next(std::uint32_t bound)
{
    m_state ^= m_state << 13;
    m_state ^= m_state >> 7;
    m_state ^= m_state << 17;
    return static_cast<std::uint32_t>((m_state >> 11) % bound);
}

Differential::Differential(std::size_t frames)
{
    auto die = [](const char* what) {
        std::fprintf(stderr, "differential: %s: %s\n", what, std::strerror(errno));
        std::exit(2);
    };
    MachineConfig config { .frames = frames };
    config.swap = SwapDeviceConfig { .bytes = std::size_t { 32 } << 20 };
    auto machine = Machine::create(config);
    if (!machine)
        die("machine");
    m_machine = std::move(*machine);
    auto space = m_machine->create_address_space(std::size_t { 1 } << 30);
    if (!space)
        die("address space");
    m_space = std::move(*space);

    // vmemu's window, with PROT_NONE guards on both sides as the kernel's has.
    std::uintptr_t guard = m_space->reservation_start().get() + (std::size_t { 1 } << 20);
    m_parent.space = m_space.get();
    m_parent.vmemu_base = guard + kGuardBytes;
    for (std::uintptr_t at : { guard, m_parent.vmemu_base + kWindowBytes }) {
        if (!m_space->mmap(VirtAddr(at), kGuardBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED))
            die("vmemu's guard");
    }
    // The kernel's windows: holes between guards in a region of their own, far below where
    // mmap(NULL) places mappings (from the top down), so that no other thread's mapping (the
    // file I/O's rings, a chunk of the allocator's) ever lands in a hole of theirs.
    std::uintptr_t at = kKernelRegionsAt;
    for (void*& region : m_kernel_regions) {
        region = ::mmap(reinterpret_cast<void*>(at), kWindowBytes + 2 * kGuardBytes, PROT_NONE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
        if (region == MAP_FAILED || ::munmap(static_cast<char*>(region) + kGuardBytes, kWindowBytes) != 0)
            die("the kernel's window");
        at += std::size_t { 1 } << 30;
    }
    m_parent.kernel_base = reinterpret_cast<std::uintptr_t>(m_kernel_regions[0]) + kGuardBytes;
    m_child.kernel_base = reinterpret_cast<std::uintptr_t>(m_kernel_regions[1]) + kGuardBytes;

    // The files: the same bytes, and a partial last page. Nothing is left behind on disk.
    std::vector<std::uint8_t> bytes(kFilePages * kPageSize - 100);
    for (std::size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = static_cast<std::uint8_t>((i * 131) ^ (i >> 12));
    for (int* fd : { &m_vmemu_file, &m_kernel_file }) {
        char name[] = "/var/tmp/vmemu-differential-XXXXXX";
        *fd = ::mkostemp(name, O_CLOEXEC);
        if (*fd < 0)
            die("the file");
        ::unlink(name);
        if (::pwrite(*fd, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size()))
            die("the file's bytes");
    }

    struct sigaction action {};
    action.sa_sigaction = on_fault;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, nullptr);
    sigaction(SIGBUS, &action, nullptr);
}

Differential::~Differential()
{
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    m_child_space.reset();
    m_space.reset();
    for (void* region : m_kernel_regions)
        ::munmap(region, kWindowBytes + 2 * kGuardBytes);
    ::close(m_vmemu_file);
    ::close(m_kernel_file);
}

const char* Differential::side_name(const Side& side) const
{
    return &side == &m_parent ? "parent" : "child";
}

void Differential::fail(std::string message)
{
    if (!m_mismatch.empty())
        return;
    // The VMAs' flags on both sides, for whoever reads the report.
    std::string kernel = kernel_smaps();
    message += "\n  parent VmFlags: vmemu" + vm_flags_in(m_space->smaps(), m_parent.vmemu_base) + "\n  parent VmFlags: kernel"
        + vm_flags_in(kernel, m_parent.kernel_base);
    if (m_has_child)
        message += "\n  child VmFlags: vmemu" + vm_flags_in(m_child_space->smaps(), m_child.vmemu_base)
            + "\n  child VmFlags: kernel" + vm_flags_in(kernel, m_child.kernel_base);
    m_mismatch = std::move(message);
}

void Differential::compare_errno(const char* what, int vmemu_error, int kernel_error)
{
    if (vmemu_error != kernel_error)
        fail(std::string(what) + ": vmemu says " + (vmemu_error ? std::strerror(vmemu_error) : "success")
            + ", the kernel " + (kernel_error ? std::strerror(kernel_error) : "success"));
}

bool Differential::step(OpSource& source)
{
    ++m_steps;
    Side& side = m_has_child && source.next(2) ? m_child : m_parent;
    switch (source.next(18)) {
    case 0:
    case 1: op_mmap(source, side); break;
    case 2: op_munmap(source, side); break;
    case 3: op_mprotect(source, side); break;
    case 4: op_madvise(source, side); break;
    case 5: op_mremap(source, side); break;
    case 6: op_mlock(source, side); break;
    case 7: op_fork(); break;
    case 8: op_reclaim(source); break;
    case 9: op_msync(source, side); break;
    case 10:
        if (source.next(4))
            op_truncate(source);
        else
            op_sync();
        break;
    case 11:
    case 12:
    case 13: op_access(source, side, false); break;
    default: op_access(source, side, true); break;
    }
    forget_settled_tails();
    if (m_mismatch.empty()) {
        compare_maps(m_parent, "parent");
        if (m_has_child)
            compare_maps(m_child, "child");
    }
    if (m_mismatch.empty()) {
        compare_contents(m_parent, "parent");
        if (m_has_child)
            compare_contents(m_child, "child");
    }
    return m_mismatch.empty();
}

namespace {
// A page range in the window: mostly whole pages inside it; now and then a misaligned start
// or a zero length, which both sides must refuse alike.
struct PageRange {
    std::size_t offset;
    std::size_t length;
};
PageRange draw_range(OpSource& source)
{
    std::size_t page = source.next(Differential::kWindowPages);
    std::size_t pages = 1 + source.next(16);
    pages = std::min(pages, Differential::kWindowPages - page);
    PageRange range { page * kPageSize, pages * kPageSize };
    switch (source.next(32)) {
    case 0: range.offset += 1 + source.next(kPageSize - 1); break;
    case 1: range.length = 0; break;
    case 2: range.length -= source.next(kPageSize); break; // a partial last page
    default: break;
    }
    return range;
}
} // namespace

void Differential::op_mmap(OpSource& source, Side& side)
{
    PageRange range = draw_range(source);
    int prot = prot_of(source.next(8));
    int flags = source.next(4) ? MAP_FIXED : MAP_FIXED_NOREPLACE;
    // A third of them map the file, shared or private, at a page of it or past its end; now
    // and then at an offset that is not a page's, which both must refuse.
    bool file = source.next(3) == 0;
    off_t offset = 0;
    if (file) {
        flags |= source.next(2) ? MAP_SHARED : MAP_PRIVATE;
        offset = static_cast<off_t>(source.next(kFilePages + 4) * kPageSize);
        if (source.next(32) == 0)
            offset += 1 + source.next(kPageSize - 1);
    } else {
        flags |= MAP_PRIVATE | MAP_ANONYMOUS;
    }
    char line[160];
    std::snprintf(line, sizeof line, "%s mmap(+%zx, %zx, prot %d, %s%s, %s, %llx)", side_name(side),
        range.offset, range.length, prot, flags & MAP_FIXED ? "MAP_FIXED" : "MAP_FIXED_NOREPLACE",
        flags & MAP_SHARED ? " | MAP_SHARED" : "", file ? "file" : "anonymous", static_cast<unsigned long long>(offset));
    m_log.emplace_back(line);
    auto ours = side.space->mmap(VirtAddr(side.vmemu_base + range.offset), range.length, prot, flags,
        file ? m_vmemu_file : -1, offset);
    void* theirs = ::mmap(reinterpret_cast<void*>(side.kernel_base + range.offset), range.length, prot, flags,
        file ? m_kernel_file : -1, offset);
    compare_errno("mmap", error_of(ours), kernel_error(theirs != MAP_FAILED));
}

void Differential::op_munmap(OpSource& source, Side& side)
{
    PageRange range = draw_range(source);
    char line[96];
    std::snprintf(line, sizeof line, "%s munmap(+%zx, %zx)", side_name(side),
        range.offset, range.length);
    m_log.emplace_back(line);
    int ours = error_of(side.space->munmap(VirtAddr(side.vmemu_base + range.offset), range.length));
    int theirs = kernel_error(::munmap(reinterpret_cast<void*>(side.kernel_base + range.offset), range.length) == 0);
    compare_errno("munmap", ours, theirs);
}

void Differential::op_mprotect(OpSource& source, Side& side)
{
    PageRange range = draw_range(source);
    int prot = prot_of(source.next(8));
    char line[96];
    std::snprintf(line, sizeof line, "%s mprotect(+%zx, %zx, %d)", side_name(side),
        range.offset, range.length, prot);
    m_log.emplace_back(line);
    int ours = error_of(side.space->mprotect(VirtAddr(side.vmemu_base + range.offset), range.length, prot));
    int theirs = kernel_error(::mprotect(reinterpret_cast<void*>(side.kernel_base + range.offset), range.length, prot) == 0);
    compare_errno("mprotect", ours, theirs);
}

void Differential::op_madvise(OpSource& source, Side& side)
{
    static constexpr int kAdvice[] = { MADV_DONTNEED, MADV_COLD, MADV_PAGEOUT, MADV_WILLNEED, MADV_NORMAL, 12345 };
    PageRange range = draw_range(source);
    int advice = kAdvice[source.next(std::size(kAdvice))];
    char line[96];
    std::snprintf(line, sizeof line, "%s madvise(+%zx, %zx, %d)", side_name(side),
        range.offset, range.length, advice);
    m_log.emplace_back(line);
    int ours = error_of(side.space->madvise(VirtAddr(side.vmemu_base + range.offset), range.length, advice));
    int theirs = kernel_error(::madvise(reinterpret_cast<void*>(side.kernel_base + range.offset), range.length, advice) == 0);
    compare_errno("madvise", ours, theirs);
}

void Differential::op_mremap(OpSource& source, Side& side)
{
    PageRange old_range = draw_range(source);
    // The old range stays inside one VMA on both sides: neighbours of the same permissions may
    // be one VMA on one side and two on the other (see compare_maps()), and a range across
    // them would be EFAULT on one side only.
    auto clip = [&](const std::vector<Range>& vmas) {
        for (const Range& vma : vmas) {
            if (vma.start <= old_range.offset && old_range.offset < vma.end)
                old_range.length = std::min(old_range.length, vma.end - old_range.offset);
        }
    };
    auto ours_vmas = ranges_in(side.space->maps(), side.vmemu_base);
    auto theirs_vmas = ranges_in(kernel_maps(), side.kernel_base);
    clip(ours_vmas);
    clip(theirs_vmas);
    // The VMA that holds the old range, on either side, when it is one VMA.
    auto holder = [&](const std::vector<Range>& vmas) -> std::pair<std::size_t, std::size_t> {
        for (const Range& vma : vmas) {
            if (vma.start <= old_range.offset && old_range.offset < vma.end)
                return { vma.start, vma.end };
        }
        return { 0, 0 };
    };
    bool dontunmap_compares = holder(ours_vmas) == holder(theirs_vmas);
    // And only where the kernel's VMA has anonymous pages, so an anon_vma: a move out of a VMA
    // never faulted takes the pgoff of its new place and may merge there, into the very VMA
    // whose lock it then clears (copy_vma()); vmemu gives every VMA its anon_vma at once.
    unsigned long anonymous_kb = 0;
    std::uintptr_t old_kernel = side.kernel_base + old_range.offset;
    test::for_each_smaps_vma(kernel_smaps(), [&](std::uintptr_t low, std::uintptr_t high, const std::string&, unsigned long kb) {
        if (low <= old_kernel && old_kernel < high)
            anonymous_kb = kb;
    });
    dontunmap_compares = dontunmap_compares && anonymous_kb > 0;
    std::size_t new_length = (1 + source.next(16)) * kPageSize;
    int flags = 0;
    switch (source.next(4)) {
    case 0: break; // in place
    case 1: flags = MREMAP_MAYMOVE | MREMAP_FIXED; break;
    case 2:
        // MREMAP_DONTUNMAP unlocks the whole VMA it leaves: only where that VMA is the same on
        // both sides (their boundaries may differ, see compare_maps()) and faulted (above);
        // else a plain move.
        flags = MREMAP_MAYMOVE | MREMAP_FIXED | (dontunmap_compares ? MREMAP_DONTUNMAP : 0);
        new_length = old_range.length;
        break;
    default: flags = MREMAP_FIXED; break; // EINVAL without MREMAP_MAYMOVE
    }
    std::size_t new_offset = source.next(kWindowPages) * kPageSize;
    if (new_length > kWindowBytes - new_offset)
        new_offset = (kWindowBytes - std::min(new_length, kWindowBytes)) & ~(kPageSize - 1);
    char line[128];
    std::snprintf(line, sizeof line, "%s mremap(+%zx, %zx, %zx, flags %d, +%zx)",
        side_name(side), old_range.offset, old_range.length, new_length, flags,
        new_offset);
    m_log.emplace_back(line);
    auto ours = side.space->mremap(VirtAddr(side.vmemu_base + old_range.offset), old_range.length, new_length, flags,
        VirtAddr(side.vmemu_base + new_offset));
    void* theirs = ::mremap(reinterpret_cast<void*>(side.kernel_base + old_range.offset), old_range.length, new_length,
        flags, reinterpret_cast<void*>(side.kernel_base + new_offset));
    compare_errno("mremap", error_of(ours), kernel_error(theirs != MAP_FAILED));
    if (ours && theirs != MAP_FAILED
        && ours->get() - side.vmemu_base != reinterpret_cast<std::uintptr_t>(theirs) - side.kernel_base)
        fail("mremap: vmemu and the kernel moved the mapping to different places");
}

void Differential::op_mlock(OpSource& source, Side& side)
{
    PageRange range = draw_range(source);
    bool lock = source.next(2);
    char line[96];
    std::snprintf(line, sizeof line, "%s %s(+%zx, %zx)", side_name(side),
        lock ? "mlock" : "munlock", range.offset, range.length);
    m_log.emplace_back(line);
    auto* address = reinterpret_cast<void*>(side.kernel_base + range.offset);
    VirtAddr ours_address(side.vmemu_base + range.offset);
    int ours = error_of(lock ? side.space->mlock(ours_address, range.length) : side.space->munlock(ours_address, range.length));
    // The system calls themselves: the sanitizers' mlock() and munlock() do nothing.
    int theirs = kernel_error(::syscall(lock ? SYS_mlock : SYS_munlock, address, range.length) == 0);
    compare_errno(lock ? "mlock" : "munlock", ours, theirs);
}

void Differential::op_msync(OpSource& source, Side& side)
{
    static constexpr int kFlags[] = { MS_SYNC, MS_SYNC, MS_ASYNC, MS_INVALIDATE, MS_SYNC | MS_INVALIDATE, 0,
        MS_SYNC | MS_ASYNC, 8 };
    PageRange range = draw_range(source);
    int flags = kFlags[source.next(std::size(kFlags))];
    char line[96];
    std::snprintf(line, sizeof line, "%s msync(+%zx, %zx, %d)", side_name(side), range.offset, range.length, flags);
    m_log.emplace_back(line);
    int ours = error_of(side.space->msync(VirtAddr(side.vmemu_base + range.offset), range.length, flags));
    int theirs = kernel_error(::msync(reinterpret_cast<void*>(side.kernel_base + range.offset), range.length, flags) == 0);
    compare_errno("msync", ours, theirs);
    if (!(flags & MS_SYNC) || ours != theirs || (ours != 0 && ours != ENOMEM))
        return;
    // What MS_SYNC wrote is on disk: the file pages of the shared mappings in the range (all
    // of them, past a hole too). The kernel's file has its page cache's bytes at any time.
    for (const Range& vma : ranges_in(kernel_maps(), side.kernel_base)) {
        std::size_t from = std::max(vma.start, range.offset);
        std::size_t to = std::min(vma.end, range.offset + range.length);
        if (vma.file && vma.shared() && from < to)
            compare_files(vma.offset + (from - vma.start), to - from, "msync");
    }
}

void Differential::op_truncate(OpSource& source)
{
    // Shorter or longer, to a page's end or inside a page; now and then a negative length.
    auto length = static_cast<off_t>(source.next(kFilePages + 4) * kPageSize);
    if (source.next(2))
        length += source.next(kPageSize);
    if (source.next(32) == 0)
        length = -1 - static_cast<off_t>(source.next(kPageSize));
    m_log.emplace_back("truncate " + std::to_string(length));
    int ours = error_of(m_machine->truncate(m_vmemu_file, length));
    int theirs = kernel_error(::ftruncate(m_kernel_file, length) == 0);
    compare_errno("truncate", ours, theirs);
    std::uint64_t ours_size = file_size(m_vmemu_file);
    std::uint64_t theirs_size = file_size(m_kernel_file);
    if (ours_size != theirs_size)
        fail("truncate: vmemu's file has " + std::to_string(ours_size) + " bytes, the kernel's "
            + std::to_string(theirs_size));
}

void Differential::note_writes_past_end(const Side& side, std::size_t offset, std::size_t length)
{
    std::uint64_t size = file_size(m_kernel_file);
    if (length == 0 || size % kPageSize == 0)
        return; // past a whole last page, a touch is SIGBUS
    std::uint64_t tail_end = size - size % kPageSize + kPageSize;
    for (const Range& vma : ranges_in(kernel_maps(), side.kernel_base)) {
        std::size_t from = std::max(vma.start, offset);
        std::size_t to = std::min(vma.end, offset + length);
        if (!vma.file || !vma.shared() || from >= to)
            continue;
        std::uint64_t first = vma.offset + (from - vma.start);
        std::uint64_t last = vma.offset + (to - vma.start);
        if (first < tail_end && last > size) {
            std::size_t& from_byte = m_uncertain_tails.try_emplace(size / kPageSize, kPageSize).first->second;
            from_byte = std::min<std::size_t>(from_byte, size % kPageSize);
        }
    }
}

void Differential::forget_settled_tails()
{
    // A tail stays uncertain while the page is the file's partial last page (its bytes past
    // the end may still be in the page cache) or a private mapping of it may hold a copy.
    if (m_uncertain_tails.empty())
        return;
    std::uint64_t size = file_size(m_kernel_file);
    std::string maps = kernel_maps();
    std::vector<Range> vmas = ranges_in(maps, m_parent.kernel_base);
    if (m_has_child) {
        std::vector<Range> child = ranges_in(maps, m_child.kernel_base);
        vmas.insert(vmas.end(), child.begin(), child.end());
    }
    for (auto tail = m_uncertain_tails.begin(); tail != m_uncertain_tails.end();) {
        bool held = size % kPageSize != 0 && size / kPageSize == tail->first;
        for (const Range& vma : vmas)
            held |= vma.file && !vma.shared() && vma.offset / kPageSize <= tail->first
                && tail->first < (vma.offset + (vma.end - vma.start)) / kPageSize;
        tail = held ? std::next(tail) : m_uncertain_tails.erase(tail);
    }
}

void Differential::op_sync()
{
    // sync(2): every dirty page of the file is on disk, then the files must be the same.
    m_log.emplace_back("sync");
    write_and_wait_all_cached(*m_machine);
    compare_files(0, std::max(file_size(m_vmemu_file), file_size(m_kernel_file)), "sync");
}

void Differential::compare_files(std::uint64_t offset, std::uint64_t length, const char* after)
{
    std::uint64_t size = file_size(m_kernel_file);
    if (file_size(m_vmemu_file) != size) {
        fail(std::string(after) + ": the files' sizes differ");
        return;
    }
    if (offset >= size)
        return;
    length = std::min(length, size - offset);
    std::vector<std::uint8_t> ours(length), theirs(length);
    bool read = ::pread(m_vmemu_file, ours.data(), length, static_cast<off_t>(offset)) == static_cast<ssize_t>(length)
        && ::pread(m_kernel_file, theirs.data(), length, static_cast<off_t>(offset)) == static_cast<ssize_t>(length);
    if (!read) {
        fail(std::string(after) + ": reading the files failed");
        return;
    }
    auto differ = std::mismatch(ours.begin(), ours.end(), theirs.begin());
    if (differ.first != ours.end()) {
        char message[160];
        std::snprintf(message, sizeof message, "%s: the files differ on disk at byte %llx: vmemu's has %02x, the kernel's %02x",
            after, static_cast<unsigned long long>(offset + static_cast<std::uint64_t>(differ.first - ours.begin())),
            *differ.first, *differ.second);
        fail(message);
        return;
    }
    m_bytes_compared += length;
}

void Differential::op_access(OpSource& source, Side& side, bool write)
{
    std::size_t offset = source.next(kWindowBytes);
    std::size_t length = std::min<std::size_t>(1 + source.next(64), kWindowBytes - offset);
    if (source.next(8) == 0)
        length = std::min<std::size_t>(kPageSize + source.next(2 * kPageSize), kWindowBytes - offset); // across pages
    auto value = static_cast<std::uint8_t>(source.next(256));
    char line[96];
    std::snprintf(line, sizeof line, "%s %s(+%zx, %zu)", side_name(side),
        write ? "write" : "read", offset, length);
    m_log.emplace_back(line);
    std::vector<std::uint8_t> ours_seen(length), theirs_seen(length);
    Outcome ours = access_bytes(reinterpret_cast<volatile std::uint8_t*>(side.vmemu_base + offset), length, write,
        value, ours_seen.data());
    Outcome theirs = access_bytes(reinterpret_cast<volatile std::uint8_t*>(side.kernel_base + offset), length, write,
        value, theirs_seen.data());
    if (write)
        note_writes_past_end(side, offset, std::min(ours.done, theirs.done));
    if (ours.done != theirs.done || ours.signal != theirs.signal || ours.si_code != theirs.si_code) {
        char message[192];
        std::snprintf(message, sizeof message,
            "%s: vmemu did %zu bytes and stopped with signal %d si_code %d, the kernel %zu bytes and signal %d si_code %d",
            write ? "write" : "read", ours.done, ours.signal, ours.si_code, theirs.done, theirs.signal, theirs.si_code);
        fail(message);
    } else if (!write) {
        // The bytes past the end of the file, in its last page, are not compared (see
        // bytes_inside_file()), nor the uncertain tails of private copies.
        std::uint64_t size = file_size(m_kernel_file);
        auto vmas = ranges_in(kernel_maps(), side.kernel_base);
        for (std::size_t i = 0; i < ours.done; ++i) {
            if (ours_seen[i] == theirs_seen[i])
                continue;
            std::size_t at = offset + i;
            auto holder = std::find_if(vmas.begin(), vmas.end(), [&](const Range& vma) { return vma.start <= at && at < vma.end; });
            if (holder != vmas.end()
                && (at - holder->start >= bytes_inside_file(*holder, size)
                    || at % kPageSize >= certain_bytes(m_uncertain_tails, *holder, at - at % kPageSize)))
                continue;
            char message[128];
            std::snprintf(message, sizeof message, "read: at +%zx vmemu read %02x, the kernel %02x", at, ours_seen[i],
                theirs_seen[i]);
            fail(message);
            break;
        }
    }
}

bool Differential::copy_kernel_window(const Side& from, const Side& to)
{
    // /proc/self/mem reads whatever the protection (FOLL_FORCE), as dup_mmap() copies;
    // /proc/self/pagemap tells which pages of a private file mapping are copies of their own.
    int memory = ::open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    int pagemap = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    bool ok = memory >= 0 && pagemap >= 0;
    std::vector<std::uint8_t> buffer(kPageSize);
    for (const Range& range : ok ? ranges_in(kernel_maps(), from.kernel_base) : std::vector<Range>()) {
        std::size_t length = range.end - range.start;
        void* at = reinterpret_cast<void*>(to.kernel_base + range.start);
        if (range.file && range.shared()) {
            // The same pages of the same file.
            ok &= ::mmap(at, length, range.prot(), MAP_SHARED | MAP_FIXED, m_kernel_file,
                      static_cast<off_t>(range.offset))
                == at;
            continue;
        }
        ok &= ::mmap(at, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | (range.file ? 0 : MAP_ANONYMOUS),
                  range.file ? m_kernel_file : -1, static_cast<off_t>(range.offset))
            == at;
        for (std::size_t page = 0; ok && page < length / kPageSize; ++page) {
            std::uintptr_t source = from.kernel_base + range.start + page * kPageSize;
            if (range.file) {
                // A page of the file that was never written here stays the file's, in the
                // child too: only the private copies (present and not a file page, or swapped)
                // are copied.
                std::uint64_t entry = 0;
                ok &= ::pread(pagemap, &entry, sizeof entry, static_cast<off_t>(source / kPageSize * sizeof entry))
                    == sizeof entry;
                bool present = entry >> 63 & 1, swapped = entry >> 62 & 1, file_page = entry >> 61 & 1;
                if (!(present && !file_page) && !swapped)
                    continue;
            }
            ok &= ::pread(memory, buffer.data(), kPageSize, static_cast<off_t>(source)) == static_cast<ssize_t>(kPageSize);
            std::memcpy(static_cast<char*>(at) + page * kPageSize, buffer.data(), kPageSize);
        }
        ok &= ::mprotect(at, length, range.prot()) == 0;
    }
    if (memory >= 0)
        ::close(memory);
    if (pagemap >= 0)
        ::close(pagemap);
    return ok;
}

void Differential::op_fork()
{
    m_log.emplace_back("fork");
    if (m_has_child) {
        m_child_space.reset();
        ::munmap(reinterpret_cast<void*>(m_child.kernel_base), kWindowBytes);
        m_has_child = false;
    }
    auto child = m_space->fork();
    if (!child) {
        fail(std::string("fork: ") + child.error().what() + ": " + std::strerror(child.error().code()));
        return;
    }
    m_child_space = std::move(*child);
    m_child.space = m_child_space.get();
    m_child.vmemu_base = m_child_space->reservation_start().get() + (m_parent.vmemu_base - m_space->reservation_start().get());
    if (!copy_kernel_window(m_parent, m_child))
        fail("fork: the kernel's copy of the window failed");
    m_has_child = true;
}

void Differential::op_reclaim(OpSource& source)
{
    std::size_t pages = 1 + source.next(static_cast<std::uint32_t>(m_machine->frame_count()));
    m_log.emplace_back("reclaim " + std::to_string(pages));
    m_machine->reclaim(pages);
}

void Differential::compare_maps(const Side& side, const char* which)
{
    auto ours = ranges_in(side.space->maps(), side.vmemu_base);
    auto theirs = ranges_in(kernel_maps(), side.kernel_base);
    // Neighbours with the same permissions are compared joined: the kernel's child window is
    // a copy made of separate mappings, which merge; and vmemu gives every VMA its anon_vma at
    // once, where Linux does so at the first fault and merges a VMA that has none yet with its
    // neighbour (tests/README.md, "Known differences").
    ours = merged(std::move(ours));
    theirs = merged(std::move(theirs));
    if (ours != theirs) {
        fail(std::string(which) + " maps: vmemu" + describe(ours) + ", the kernel" + describe(theirs));
        return;
    }
    // mlock() state is not in maps: compare the pages in VM_LOCKED VMAs, from smaps.
    std::string locked_here = test::locked_page_marks(side.space->smaps(), side.vmemu_base, kWindowPages);
    std::string locked_there = test::locked_page_marks(kernel_smaps(), side.kernel_base, kWindowPages);
    if (locked_here != locked_there)
        fail(std::string(which) + " locked pages: vmemu " + locked_here + ", the kernel " + locked_there);
}

void Differential::compare_contents(const Side& side, const char* which)
{
    std::uint64_t size = file_size(m_kernel_file);
    for (const Range& range : ranges_in(kernel_maps(), side.kernel_base)) {
        if (range.perms[0] != 'r')
            continue;
        std::size_t length = bytes_inside_file(range, size);
        if (length == 0)
            continue;
        static volatile bool s_faulted;
        s_faulted = false;
        if (sigsetjmp(g_recover, 1) != 0)
            s_faulted = true;
        if (s_faulted) {
            fail(std::string(which) + ": vmemu faults reading a page the kernel reads");
            return;
        }
        for (std::size_t page = 0; page < length; page += kPageSize) {
            std::size_t bytes = std::min({ kPageSize, length - page,
                certain_bytes(m_uncertain_tails, range, range.start + page) });
            auto* ours = reinterpret_cast<const std::uint8_t*>(side.vmemu_base + range.start + page);
            auto* theirs = reinterpret_cast<const std::uint8_t*>(side.kernel_base + range.start + page);
            if (std::memcmp(ours, theirs, bytes) != 0) {
                std::size_t at = static_cast<std::size_t>(std::mismatch(ours, ours + bytes, theirs).first - ours);
                char message[192];
                std::snprintf(message, sizeof message,
                    "%s: the bytes of [%zx, %zx)%s differ, first at +%zx: vmemu %02x, the kernel %02x", which,
                    range.start / kPageSize, range.end / kPageSize, describe({ range }).c_str(), range.start + page + at,
                    ours[at], theirs[at]);
                fail(message);
                return;
            }
            m_bytes_compared += bytes;
        }
    }
}

} // namespace vmemu::fuzz
