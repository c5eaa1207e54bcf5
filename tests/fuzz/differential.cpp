#include "differential.hpp"
#include <algorithm>
#include <csetjmp>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "../smaps_text.hpp"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

namespace vmemu::fuzz {

namespace {
constexpr std::size_t kWindowBytes = Differential::kWindowPages * kPageSize;
constexpr std::size_t kGuardBytes = Differential::kGuardPages * kPageSize;

// The SIGSEGV of an access that faults, on either side: vmemu passes a fault it does not
// resolve to the program's handler, which this is.
sigjmp_buf g_recover;
volatile sig_atomic_t g_si_code;

void on_segv(int, siginfo_t* info, void*)
{
    g_si_code = info->si_code;
    siglongjmp(g_recover, 1);
}

// The outcome of a run of byte accesses: how many were done before the first fault, and the
// fault's si_code (0 for none).
struct Outcome {
    std::size_t done { 0 };
    int si_code { 0 };
};

Outcome access_bytes(volatile std::uint8_t* bytes, std::size_t length, bool write, std::uint8_t value,
    std::uint8_t* seen)
{
    static volatile std::size_t s_index;
    s_index = 0;
    if (sigsetjmp(g_recover, 1) != 0)
        return Outcome { s_index, g_si_code };
    while (s_index < length) {
        std::size_t index = s_index;
        if (write)
            bytes[index] = static_cast<std::uint8_t>(value + index);
        else
            seen[index] = bytes[index];
        s_index = index + 1;
    }
    return Outcome { length, 0 };
}

// One VMA inside a window, at offsets from the window's start.
struct Range {
    std::size_t start;
    std::size_t end;
    std::string perms;
    bool operator==(const Range&) const = default;
};

// Parses "start-end perms ..." lines, keeping what lies in [base, base + kWindowBytes).
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
        if (from < to)
            ranges.push_back(Range { from - base, to - base, std::string(perms) });
    });
    return ranges;
}

// Joins neighbours with the same permissions.
std::vector<Range> merged(std::vector<Range> ranges)
{
    std::vector<Range> out;
    for (const Range& range : ranges) {
        if (!out.empty() && out.back().end == range.start && out.back().perms == range.perms)
            out.back().end = range.end;
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
        std::snprintf(line, sizeof line, " [%zx-%zx %s]", range.start / kPageSize, range.end / kPageSize,
            range.perms.c_str());
        out += line;
    }
    return out.empty() ? " (none)" : out;
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
    // The kernel's windows: holes between guards in a region of their own.
    for (void*& region : m_kernel_regions) {
        region = ::mmap(nullptr, kWindowBytes + 2 * kGuardBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
            -1, 0);
        if (region == MAP_FAILED || ::munmap(static_cast<char*>(region) + kGuardBytes, kWindowBytes) != 0)
            die("the kernel's window");
    }
    m_parent.kernel_base = reinterpret_cast<std::uintptr_t>(m_kernel_regions[0]) + kGuardBytes;
    m_child.kernel_base = reinterpret_cast<std::uintptr_t>(m_kernel_regions[1]) + kGuardBytes;

    struct sigaction action {};
    action.sa_sigaction = on_segv;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, nullptr);
}

Differential::~Differential()
{
    signal(SIGSEGV, SIG_DFL);
    m_child_space.reset();
    m_space.reset();
    for (void* region : m_kernel_regions)
        ::munmap(region, kWindowBytes + 2 * kGuardBytes);
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
    switch (source.next(16)) {
    case 0:
    case 1: op_mmap(source, side); break;
    case 2: op_munmap(source, side); break;
    case 3: op_mprotect(source, side); break;
    case 4: op_madvise(source, side); break;
    case 5: op_mremap(source, side); break;
    case 6: op_mlock(source, side); break;
    case 7: op_fork(); break;
    case 8: op_reclaim(source); break;
    case 9:
    case 10:
    case 11: op_access(source, side, false); break;
    default: op_access(source, side, true); break;
    }
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
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | (source.next(4) ? MAP_FIXED : MAP_FIXED_NOREPLACE);
    char line[128];
    std::snprintf(line, sizeof line, "%s mmap(+%zx, %zx, prot %d, %s)", side_name(side),
        range.offset, range.length, prot, flags & MAP_FIXED ? "MAP_FIXED" : "MAP_FIXED_NOREPLACE");
    m_log.emplace_back(line);
    auto ours = side.space->mmap(VirtAddr(side.vmemu_base + range.offset), range.length, prot, flags);
    void* theirs = ::mmap(reinterpret_cast<void*>(side.kernel_base + range.offset), range.length, prot, flags, -1, 0);
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
    if (ours.done != theirs.done || ours.si_code != theirs.si_code) {
        char message[160];
        std::snprintf(message, sizeof message,
            "%s: vmemu did %zu bytes and stopped with si_code %d, the kernel %zu bytes and si_code %d",
            write ? "write" : "read", ours.done, ours.si_code, theirs.done, theirs.si_code);
        fail(message);
    } else if (!write && std::memcmp(ours_seen.data(), theirs_seen.data(), ours.done) != 0) {
        fail("read: vmemu and the kernel read different bytes");
    }
}

bool Differential::copy_kernel_window(const Side& from, const Side& to)
{
    int memory = ::open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    if (memory < 0)
        return false;
    bool ok = true;
    std::vector<std::uint8_t> buffer;
    for (const Range& range : ranges_in(kernel_maps(), from.kernel_base)) {
        std::size_t length = range.end - range.start;
        void* at = reinterpret_cast<void*>(to.kernel_base + range.start);
        ok &= ::mmap(at, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == at;
        buffer.resize(length);
        // /proc/self/mem reads whatever the protection (FOLL_FORCE), as dup_mmap() copies.
        ok &= ::pread(memory, buffer.data(), length, static_cast<off_t>(from.kernel_base + range.start))
            == static_cast<ssize_t>(length);
        std::memcpy(at, buffer.data(), length);
        int prot = (range.perms[0] == 'r' ? PROT_READ : 0) | (range.perms[1] == 'w' ? PROT_WRITE : 0)
            | (range.perms[2] == 'x' ? PROT_EXEC : 0);
        ok &= ::mprotect(at, length, prot) == 0;
    }
    ::close(memory);
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
        fail(std::string("fork: ") + std::strerror(child.error().code()));
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
    for (const Range& range : ranges_in(kernel_maps(), side.kernel_base)) {
        if (range.perms[0] != 'r')
            continue;
        std::size_t length = range.end - range.start;
        static volatile bool s_faulted;
        s_faulted = false;
        if (sigsetjmp(g_recover, 1) != 0)
            s_faulted = true;
        if (s_faulted) {
            fail(std::string(which) + ": vmemu faults reading a page the kernel reads");
            return;
        }
        if (std::memcmp(reinterpret_cast<const void*>(side.vmemu_base + range.start),
                reinterpret_cast<const void*>(side.kernel_base + range.start), length)
            != 0) {
            char message[128];
            std::snprintf(message, sizeof message, "%s: the bytes of [%zx, %zx) differ", which, range.start / kPageSize,
                range.end / kPageSize);
            fail(message);
            return;
        }
        m_bytes_compared += length;
    }
}

} // namespace vmemu::fuzz
