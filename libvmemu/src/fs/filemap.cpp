#include <algorithm>
#include <vmemu/fs/file_io.hpp>
#include <vmemu/fs/filemap.hpp>
#include <vmemu/fs/inode.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/mm/vma.hpp>
#include <vmemu/reclaim/swap_state.hpp>
#include <vmemu/trace/tracepoint.hpp>

namespace vmemu {

namespace {
constexpr std::uint64_t kNoIndex = ~std::uint64_t { 0 };

// Reads a run of consecutive new pages: the one with wait_index synchronously.
int read_run(Machine& machine, Inode& inode, std::uint64_t first, PageFrame** pages, std::size_t count,
    std::uint64_t wait_index)
{
    if (count == 0)
        return 0;
    if (wait_index < first || wait_index >= first + count) {
        machine.file_io().read_async(inode, first, pages, count); // the I/O drops the references
        return 0;
    }
    trace::note_major_fault();
    int result = machine.file_io().read_sync(inode, first, pages, count);
    for (std::size_t i = 0; i < count; ++i)
        machine.put_page(*pages[i]);
    return result;
}
} // namespace

int page_cache_ra_submit(Machine& machine, Inode& inode, std::uint64_t start, std::uint64_t count,
    std::uint64_t marker, std::uint64_t wait_index)
{
    std::uint64_t end = std::min(start + count, inode.size_pages());
    PageFrame* run[FileIo::kMaxPages];
    std::size_t in_run = 0;
    std::uint64_t run_first = start;
    int result = 0;
    auto flush = [&] {
        int done = read_run(machine, inode, run_first, run, in_run, wait_index);
        if (done < 0)
            result = done;
        in_run = 0;
    };
    FrameArena& arena = machine.arena();
    // Frames for a run of missing pages come as one contiguous block where one is free, so
    // that the faults which map them map each run with one kernel mapping.
    std::optional<Pfn> block;
    std::size_t block_left = 0;
    for (std::uint64_t index = start; index < end; ++index) {
        bool cached = inode.cache().contains(index);
        if (in_run == FileIo::kMaxPages || (in_run && cached))
            flush();
        if (cached)
            continue;
        if (block_left == 0) {
            std::size_t missing = 1;
            while (index + missing < end && missing < FileIo::kMaxPages && !inode.cache().contains(index + missing))
                ++missing;
            // Only the page a fault waits for may reclaim: readahead is a bet, not a need.
            bool needed = wait_index >= index && wait_index < index + missing;
            for (;; missing /= 2) {
                MayReclaim reclaim = needed && missing == 1 ? MayReclaim::Yes : MayReclaim::No;
                block = machine.page_allocator().alloc_contig(missing, std::nullopt, ZeroFill::No, reclaim);
                if (block || missing == 1)
                    break;
            }
            if (!block && !needed && wait_index > index && wait_index < end) {
                // No frame to bet on the pages before the one a fault waits for: skip to it,
                // since it may reclaim for its own frame.
                flush();
                index = wait_index - 1;
                continue;
            }
            if (!block) {
                if (needed)
                    result = -ENOMEM;
                break;
            }
            block_left = missing;
        }
        Pfn pfn = *block;
        block = *block + 1;
        --block_left;
        PageFrame& page = arena.frame(pfn);
        page.set(PageFlag::Locked); // until its read ends
        std::optional<std::uint64_t> shadow;
        PageCache::AddResult added = inode.cache().add(page, &inode, index, &shadow);
        if (added != PageCache::AddResult::Added) {
            page.clear(PageFlag::Locked);
            machine.page_allocator().free_page(pfn);
            if (added == PageCache::AddResult::NoMemory) {
                if (index == wait_index)
                    result = -ENOMEM;
                break;
            }
            flush(); // a racing fault added it: the run breaks here
            continue;
        }
        if (shadow) {
            // workingset_refault(): a page evicted recently enough comes back active.
            machine.stat().inc(VmStatItem::WorkingsetRefaultFile);
            if (machine.workingset().refault_should_activate(machine.lruvec(), *shadow)) {
                page.set(PageFlag::Active);
                machine.stat().inc(VmStatItem::WorkingsetActivateFile);
            }
        }
        if (index == marker)
            page.set(PageFlag::Readahead);
        machine.stat().inc(VmStatItem::NrFilePages);
        trace::emit(trace::Event::FilemapAddToPageCache, pfn.get(), index, static_cast<std::uint64_t>(inode.dev()),
            static_cast<std::uint64_t>(inode.ino()));
        machine.lruvec().add(page);
        if (in_run == 0)
            run_first = index;
        run[in_run++] = &page;
    }
    if (block_left)
        machine.page_allocator().free_contig(*block, block_left);
    flush();
    return result;
}

namespace {
void sync_mmap_readahead(Machine& machine, Inode& inode, std::uint64_t index, std::uint32_t vm_flags, int* result)
{
    Inode::Readahead ra { index, 1, 0 };
    if (vm_flags & VmFlags::SeqRead) {
        ra = Inode::Readahead { index, 2 * kRaPages, kRaPages };
    } else if (!(vm_flags & VmFlags::RandRead)
        && inode.mmap_miss().fetch_add(1, std::memory_order_relaxed) + 1 <= static_cast<std::int32_t>(kMmapLotsAMiss)) {
        // Read-around: a window centred on the page, with its last quarter read ahead.
        std::uint64_t start = index >= kRaPages / 2 ? index - kRaPages / 2 : 0;
        ra = Inode::Readahead { start, kRaPages, kRaPages / 4 };
    }
    inode.set_readahead(ra);
    std::uint64_t marker = ra.async_size ? ra.start + ra.size - ra.async_size : kNoIndex;
    *result = page_cache_ra_submit(machine, inode, ra.start, ra.size, marker, index);
}

void async_mmap_readahead(Machine& machine, Inode& inode, std::uint64_t index, std::uint32_t vm_flags)
{
    if (vm_flags & VmFlags::RandRead)
        return;
    Inode::Readahead ra = inode.readahead();
    std::uint32_t max = (vm_flags & VmFlags::SeqRead) ? 2 * kRaPages : kRaPages;
    Inode::Readahead next;
    if (index == ra.start + ra.size - ra.async_size) {
        // The stream reached the marker: the next window, twice as large, all of it ahead.
        std::uint32_t size = std::min<std::uint32_t>(std::max<std::uint32_t>(ra.size, 4) * 2, max);
        next = Inode::Readahead { ra.start + ra.size, size, size };
    } else {
        // A marker of an older window: start a new one after the page.
        next = Inode::Readahead { index + 1, max, max };
    }
    inode.set_readahead(next);
    page_cache_ra_submit(machine, inode, next.start, next.size, next.start, kNoIndex);
}
} // namespace

FilemapFault filemap_fault(Machine& machine, Inode& inode, std::uint64_t index, std::uint32_t vm_flags)
{
    FilemapFault fault;
    // Past what vmemu knows of the file: the file may have grown since.
    if (index >= inode.size_pages() && index >= ((inode.refresh_size() + kPageSize - 1) >> kPageShift)) {
        fault.result = FaultResult::SigBus;
        return fault;
    }
    PageFrame* page = inode.cache().find_get(index);
    bool major = !page; // it waits for a read
    for (int attempt = 0; !page && attempt < 4; ++attempt) {
        int result = 0;
        sync_mmap_readahead(machine, inode, index, vm_flags, &result);
        if (result == -ENOMEM) {
            fault.result = FaultResult::OutOfMemory;
            return fault;
        }
        // Reclaim or truncation may take it between the read and here, rarely.
        page = inode.cache().find_get(index);
    }
    if (!page) {
        fault.result = FaultResult::OutOfMemory;
        return fault;
    }
    if (major) {
        machine.stat().inc(VmStatItem::PgMajFault);
    } else {
        if (page->test(PageFlag::Readahead)) {
            page->clear(PageFlag::Readahead);
            async_mmap_readahead(machine, inode, index, vm_flags);
        }
        std::int32_t misses = inode.mmap_miss().load(std::memory_order_relaxed);
        if (misses > 0)
            inode.mmap_miss().store(misses - 1, std::memory_order_relaxed);
    }
    // A read in flight (readahead, or another fault's): wait for it.
    if (page->test(PageFlag::Locked) && !page->test(PageFlag::Uptodate)) {
        trace::note_major_fault();
        SwapState::wait_on_page_flag(*page, PageFlag::Locked);
    }
    if (!page->test(PageFlag::Uptodate)) {
        // The read failed (or readahead had no request free): read the page once more, now.
        int result = 0;
        if (page->trylock()) {
            if (page->test(PageFlag::Uptodate))
                SwapState::clear_and_wake(*page, PageFlag::Locked);
            else
                result = machine.file_io().read_sync(inode, index, &page, 1); // ends and unlocks it
        } else {
            SwapState::wait_on_page_flag(*page, PageFlag::Locked);
            result = page->test(PageFlag::Uptodate) ? 0 : -EIO;
        }
        if (result < 0) {
            machine.put_page(*page);
            fault.result = FaultResult::IoError;
            return fault;
        }
    }
    fault.page = page;
    return fault;
}

} // namespace vmemu
