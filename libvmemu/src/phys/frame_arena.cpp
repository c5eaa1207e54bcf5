#include <cstring>
#include <new>
#include <vmemu/os/file.hpp>
#include <vmemu/os/memory.hpp>
#include <vmemu/phys/frame_arena.hpp>

namespace vmemu {

VmResult<std::unique_ptr<FrameArena>> FrameArena::create(std::size_t frame_count)
{
    std::size_t total = frame_count + kZeroFrames;
    if (frame_count == 0 || total > (std::size_t { 1 } << (63 - kPageShift)))
        return vm_fail(EINVAL, "frame count out of range");
    // As the kernel's overcommit guess: the frames and their descriptors cannot be more than
    // the machine's memory and swap.
    if (frame_count > os::ram_and_swap_bytes() / (kPageSize + sizeof(PageFrame)))
        return vm_fail(ENOMEM, "more frames than this machine's memory and swap hold");
    std::size_t bytes = total << kPageShift;
    int fd = VM_TRY(os::memfd_create("vmemu-frames", bytes));
    auto direct_map = os::map_shared(fd, bytes);
    if (!direct_map) {
        os::close_fd(fd);
        return std::unexpected(direct_map.error());
    }
    auto mem_map_memory = os::map_anonymous(total * sizeof(PageFrame));
    if (!mem_map_memory) {
        (void)os::unmap(*direct_map, bytes);
        os::close_fd(fd);
        return std::unexpected(mem_map_memory.error());
    }
    // The direct map is the machine's physical memory; a child of fork() must not share it.
    os::exclude_from_fork(VirtAddr(*direct_map), bytes);
    auto* mem_map = static_cast<PageFrame*>(*mem_map_memory);
    for (std::size_t i = 0; i < total; ++i) {
        auto* frame = new (&mem_map[i]) PageFrame;
        frame->set(PageFlag::Zeroed);
    }
    for (std::size_t i = frame_count; i < total; ++i) {
        mem_map[i].set_type(PageType::Zero);
        mem_map[i].set(PageFlag::Reserved);
        mem_map[i].refcount.store(1, std::memory_order_relaxed);
    }
    return std::unique_ptr<FrameArena>(new FrameArena(fd, frame_count, *direct_map, mem_map));
}

FrameArena::~FrameArena()
{
    for (std::size_t i = 0; i < total_frames(); ++i)
        m_mem_map[i].~PageFrame();
    (void)os::unmap(m_mem_map, total_frames() * sizeof(PageFrame));
    (void)os::unmap(m_direct_map, total_frames() << kPageShift);
    if (m_anon_map)
        (void)os::unmap(m_anon_map, anon_map_bytes());
    os::close_fd(m_fd);
}

VmResult<void> FrameArena::add_anon_map()
{
    if (m_anon_map)
        return {};
    auto memory = VM_TRY(os::map_anonymous(anon_map_bytes()));
    // A page moved into a huge page's range would be split; moves are of single pages.
    os::no_huge_pages(VirtAddr(memory), anon_map_bytes());
    m_anon_map = static_cast<std::byte*>(memory);
    return {};
}

void FrameArena::move_home_to_memfd(Pfn first, std::size_t count) const
{
    for (std::size_t i = 0; i < count; ++i) {
        PageFrame& page = frame(first + i);
        if (!page.test(PageFlag::AnonHome))
            continue;
        std::memcpy(m_direct_map + ((first + i).get() << kPageShift), anon_slot(first + i), kPageSize);
        (void)os::discard(VirtAddr(anon_slot(first + i)), kPageSize);
        page.clear(PageFlag::AnonHome);
        page.clear(PageFlag::Zeroed);
    }
}

void FrameArena::drop_anon_home(Pfn first, std::size_t count) const
{
    for (std::size_t i = 0; i < count;) {
        if (!frame(first + i).test(PageFlag::AnonHome)) {
            ++i;
            continue;
        }
        std::size_t end = i + 1;
        while (end < count && frame(first + end).test(PageFlag::AnonHome))
            ++end;
        (void)os::discard(VirtAddr(anon_slot(first + i)), (end - i) << kPageShift);
        for (std::size_t j = i; j < end; ++j) {
            frame(first + j).clear(PageFlag::AnonHome);
            frame(first + j).set(PageFlag::Zeroed);
        }
        i = end;
    }
}

VmResult<void> FrameArena::reopen_in_child()
{
    std::size_t bytes = total_frames() << kPageShift;
    int fd = VM_TRY(os::memfd_create("vmemu-frames", bytes));
    // Free frames need no copy: a hole reads as zero, which PG_zeroed may promise. Nor do the
    // zero frames, nor frames whose memfd page is a hole (PG_zeroed): the bytes of a page that
    // the userfaultfd view maps live in the view, which the child inherits.
    constexpr std::size_t kBounceBytes = std::size_t { 64 } << kPageShift;
    auto bounce = os::map_anonymous(kBounceBytes);
    if (!bounce) {
        os::close_fd(fd);
        return std::unexpected(bounce.error());
    }
    VmResult<void> copied;
    // Nor frames whose bytes are in the anonymous map, which the child inherits.
    auto holds_bytes = [this](std::size_t pfn) {
        const PageFrame& page = m_mem_map[pfn];
        return page.refcount.load(std::memory_order_relaxed) != 0 && !page.test(PageFlag::Zeroed)
            && !page.test(PageFlag::AnonHome);
    };
    for (std::size_t first = 0; first < m_frame_count && copied;) {
        if (!holds_bytes(first)) {
            ++first;
            continue;
        }
        std::size_t end = first + 1;
        while (end < m_frame_count && holds_bytes(end))
            ++end;
        copied = os::copy_range(m_fd, fd, first << kPageShift, (end - first) << kPageShift, *bounce, kBounceBytes);
        first = end;
    }
    (void)os::unmap(*bounce, kBounceBytes);
    if (copied)
        copied = os::map_shared_at(VirtAddr(m_direct_map), fd, bytes);
    if (!copied) {
        os::close_fd(fd);
        return copied;
    }
    os::exclude_from_fork(VirtAddr(m_direct_map), bytes);
    os::close_fd(m_fd);
    m_fd = fd;
    return {};
}

void FrameArena::zero_frames(Pfn first, std::size_t count) const
{
    for (std::size_t i = 0; i < count; ++i) {
        PageFrame& page = frame(first + i);
        if (page.test(PageFlag::Zeroed)) {
            page.clear(PageFlag::Zeroed);
            continue;
        }
        std::memset(direct_map(first + i), 0, kPageSize);
    }
}

} // namespace vmemu
