#include <bit>
#include <sched.h>
#include <vmemu/base/assert.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/futex.hpp>
#include <vmemu/reclaim/swap_state.hpp>
#include <vmemu/trace/latency.hpp>
#include <vmemu/reclaim/vmscan.hpp>

namespace vmemu {

namespace {
// The device hands back what was submitted: a frame number, and whether direct reclaim wrote it.
constexpr std::uint64_t kDirectBit = std::uint64_t { 1 } << 60;
} // namespace

VmResult<std::unique_ptr<SwapState>> SwapState::create(const SwapDeviceConfig& config, Machine& machine)
{
    std::unique_ptr<SwapState> state(new SwapState(machine));
    state->m_device = VM_TRY(SwapDevice::create(config, &SwapState::on_completion, state.get()));
    state->m_cache = std::make_unique<SwapCache>(state->m_device->header().last_page);
    state->m_io_started = std::make_unique<std::atomic<std::uint64_t>[]>(machine.frame_count());
    return state;
}

SwapState::~SwapState()
{
    m_device.reset(); // waits for the I/O in flight, whose completions use the cache
}

std::uint64_t SwapState::write_user_data(Pfn pfn, ReclaimMode mode)
{
    return pfn.get() | (mode == ReclaimMode::Direct ? kDirectBit : 0);
}

void SwapState::submit(const SwapIo* requests, std::size_t count)
{
    if (trace::measuring()) {
        std::uint64_t now = trace::now_ns();
        for (std::size_t i = 0; i < count; ++i) {
            std::uint64_t pfn = requests[i].user_data & ~kDirectBit;
            m_io_started[pfn].store(now, std::memory_order_relaxed);
            trace::emit(trace::Event::SwapIoStart, pfn, requests[i].slot,
                requests[i].direction == IoDirection::Write);
        }
    }
    m_device->submit(requests, count);
}

int SwapState::read_now(const SwapIo& io)
{
    std::uint64_t start = trace::measuring() ? trace::now_ns() : 0;
    if (start) {
        // A busy pool hands the read to submit(), which starts it again.
        trace::emit(trace::Event::SwapIoStart, io.user_data, io.slot, 0);
        m_io_started[io.user_data].store(start, std::memory_order_relaxed);
    }
    int result = m_device->read_now(io.slot, io.page);
    if (start && result != -EBUSY)
        io_done(io.user_data, IoDirection::Read, result);
    return result;
}

void SwapState::io_done(std::uint64_t pfn, IoDirection direction, int result)
{
    std::uint64_t started = m_io_started[pfn].exchange(0, std::memory_order_relaxed);
    if (!started || !trace::measuring())
        return;
    std::uint64_t latency = trace::now_ns() - started;
    trace::emit(trace::Event::SwapIoDone, pfn, direction == IoDirection::Write, static_cast<std::uint64_t>(result),
        latency);
    trace::record_latency(trace::Latency::SwapIo, latency);
}

void SwapState::on_completion(void* context, std::uint64_t user_data, IoDirection direction, int result)
{
    auto* self = static_cast<SwapState*>(context);
    self->io_done(user_data & ~kDirectBit, direction, result);
    PageFrame& page = self->m_machine.arena().frame(Pfn(user_data & ~kDirectBit));
    if (direction == IoDirection::Read)
        self->end_read(page, result);
    else
        self->m_machine.vmscan().end_swap_write(page, result,
            (user_data & kDirectBit) ? ReclaimMode::Direct : ReclaimMode::Kswapd);
}

bool SwapState::freeze_refs(PageFrame& page, std::int32_t expected)
{
    return page.refcount.compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
}

void SwapState::wait_on_page_flag(PageFrame& page, PageFlag flag)
{
    auto bit = static_cast<std::uint32_t>(flag);
    auto waiters = static_cast<std::uint32_t>(PageFlag::Waiters);
    for (;;) {
        if (!(page.flags.load(std::memory_order_acquire) & bit))
            return;
        // PG_waiters first, so that the clearer sees it and pays for a wake-up.
        std::uint32_t flags = page.flags.fetch_or(waiters, std::memory_order_acq_rel) | waiters;
        if (!(flags & bit))
            return;
        os::futex_wait(page.flags, flags);
    }
}

void SwapState::clear_and_wake(PageFrame& page, PageFlag flag)
{
    // Nobody to wake unless a waiter said so: no system call on the common path.
    auto waiters = static_cast<std::uint32_t>(PageFlag::Waiters);
    std::uint32_t old = page.flags.fetch_and(~(static_cast<std::uint32_t>(flag) | waiters), std::memory_order_acq_rel);
    if (old & waiters)
        os::futex_wake(page.flags, INT32_MAX);
}

std::size_t SwapState::add_to_swap(PageFrame** pages, std::size_t count)
{
    std::uint32_t slots[64];
    VM_ASSERT(count <= 64);
    std::size_t got = m_device->slots().alloc(count, slots);
    for (std::size_t i = 0; i < got; ++i) {
        PageFrame& page = *pages[i];
        page.set_page_private(slots[i]);
        page.refcount.fetch_add(1, std::memory_order_acq_rel); // the cache's
        VM_ASSERT(m_cache->insert(slots[i], m_machine.arena().pfn_of(page).get()));
        // PG_swapcache last: the page is still mapped, and a write fault that sees the flag
        // takes the page out of the cache at once (do_wp_page()), which needs all of the above.
        page.set(PageFlag::SwapCache);
    }
    return got;
}

bool SwapState::delete_from_swap_cache(PageFrame& page)
{
    // Whoever erases the cache's entry takes the page out; a racing second caller finds it
    // gone. private_data goes before PG_swapcache: once the flag is clear, reclaim may give
    // the page a new slot at once (add_to_swap()), and nothing may overwrite it then.
    if (!page.test(PageFlag::SwapCache))
        return false;
    auto slot = static_cast<std::uint32_t>(page.page_private());
    if (slot == 0 || !m_cache->erase(slot, m_machine.arena().pfn_of(page).get()))
        return false;
    page.set_page_private(0);
    page.clear(PageFlag::SwapCache);
    m_device->slots().drop_cache(slot);
    VM_ASSERT(page.refcount.fetch_sub(1, std::memory_order_acq_rel) > 1);
    return true;
}

bool SwapState::try_free_cached_page(PageFrame& page)
{
    auto busy = [&] {
        return !page.test(PageFlag::SwapCache) || page.test(PageFlag::Locked) || page.test(PageFlag::Writeback)
            || page.test(PageFlag::Dirty) || page.mapcount.load(std::memory_order_acquire) != 0;
    };
    if (busy() || !freeze_refs(page, 2))
        return false;
    // Between the first look and the freeze a fault may have mapped the page and taken it out
    // of the cache, leaving exactly two references of its own: look again now that nobody can
    // take one.
    if (busy()) {
        page.refcount.store(2, std::memory_order_release);
        return false;
    }
    // Nobody can find the page any more: lookups fail on a zero count.
    auto slot = static_cast<std::uint32_t>(page.page_private());
    VM_ASSERT(m_cache->erase(slot, m_machine.arena().pfn_of(page).get()));
    page.set_page_private(0);
    page.clear(PageFlag::SwapCache);
    m_device->slots().drop_cache(slot);
    m_machine.release_page(page);
    return true;
}

void SwapState::swap_free(SwapEntry entry)
{
    std::uint8_t left = m_device->slots().drop_reference(entry.offset());
    if (left != SwapSlots::kHasCache)
        return;
    // Only the cache holds the slot: its page is of no further use.
    PageFrame* page = lookup_get(entry);
    if (!page)
        return;
    if (!try_free_cached_page(*page))
        m_machine.put_page(*page);
}

PageFrame* SwapState::lookup_get(SwapEntry entry)
{
    auto frame = m_cache->lookup(entry.offset());
    if (!frame)
        return nullptr;
    PageFrame& page = m_machine.arena().frame(Pfn(*frame));
    if (!Lruvec::get_unless_zero(page))
        return nullptr;
    // The frame may have left the cache (and even been reused) before the reference was taken.
    if (!page.test(PageFlag::SwapCache) || page.page_private() != entry.offset()) {
        m_machine.put_page(page);
        return nullptr;
    }
    return &page;
}

PageFrame* SwapState::read_swap_page(SwapEntry entry, bool* no_memory)
{
    *no_memory = false;
    SwapSlots& slots = m_device->slots();
    if (!slots.take_cache(entry.offset()))
        return nullptr; // another fault reads it, or it is being freed
    auto pfn = m_machine.page_allocator().alloc_page(ZeroFill::No, MayReclaim::Yes, FrameHome::Any);
    if (!pfn) {
        slots.drop_cache(entry.offset());
        *no_memory = true;
        return nullptr;
    }
    SwapIo reads[kReadaroundPages];
    std::size_t count = 0;
    SwapIo own;
    prepare_read(*pfn, entry.offset(), Readahead::No, own);
    // Cluster readahead: the other used slots of the aligned window, as swap_cluster_readahead().
    std::uint32_t window = readahead_window(entry.offset());
    std::uint32_t base = entry.offset() & ~(window - 1);
    for (std::uint32_t slot = base; window > 1 && slot < base + window && slot <= slots.last_page(); ++slot) {
        if (slot == 0 || slot == entry.offset() || m_cache->lookup(slot) || !slots.take_cache(slot))
            continue;
        auto frame = m_machine.page_allocator().alloc_page(ZeroFill::No, MayReclaim::No, FrameHome::Any);
        if (!frame) {
            slots.drop_cache(slot);
            break;
        }
        prepare_read(*frame, slot, Readahead::Yes, reads[count++]);
        m_machine.stat().inc(VmStatItem::SwapRa);
    }
    // The readahead goes to the completion thread; the faulting page is read and completed
    // right here when a ring of the pool is free, which saves two context switches.
    if (count)
        submit(reads, count);
    PageFrame& page = m_machine.arena().frame(*pfn);
    int result = read_now(own);
    if (result == -EBUSY)
        submit(&own, 1);
    else
        end_read(page, result);
    return &page;
}

void SwapState::prepare_read(Pfn frame, std::uint32_t slot, Readahead readahead, SwapIo& io)
{
    trace::emit(trace::Event::SwapReadFolio, frame.get(), slot, readahead == Readahead::No);
    PageFrame& page = m_machine.arena().frame(frame);
    // The allocation's reference becomes the cache's; a faulting caller takes one more.
    // (An add, not a store: a stale lookup may hold a speculative reference right now.)
    if (readahead == Readahead::No)
        page.refcount.fetch_add(1, std::memory_order_acq_rel);
    page.set_page_private(slot);
    page.set(PageFlag::SwapBacked);
    page.set(PageFlag::SwapCache);
    page.set(PageFlag::Locked);
    if (readahead == Readahead::Yes)
        page.set(PageFlag::Readahead);
    VM_ASSERT(m_cache->insert(slot, frame.get()));
    io = SwapIo { slot, m_machine.arena().direct_map(frame), frame.get(), IoDirection::Read };
}

std::size_t SwapState::swapin_async(const SwapEntry* entries, std::size_t count, std::optional<Pfn> hint)
{
    SwapIo reads[kMaxSwapinBatch];
    count = std::min(count, kMaxSwapinBatch);
    PageAllocator& allocator = m_machine.page_allocator();
    // Entries for neighbouring pages get neighbouring frames when a block is free, so that a
    // fault can map them together; the frames of entries that need no read go back.
    std::optional<Pfn> contiguous = count > 1 ? allocator.alloc_contig(count, hint, ZeroFill::No, MayReclaim::No, FrameHome::Any) : std::nullopt;
    bool in_block = contiguous.has_value();
    Pfn block = contiguous.value_or(Pfn());
    std::size_t queued = 0;
    std::size_t i = 0;
    for (; i < count; ++i) {
        std::uint32_t slot = entries[i].offset();
        if (!entries[i].valid() || m_cache->lookup(slot) || !m_device->slots().take_cache(slot)) {
            if (in_block)
                allocator.free_page(block + i);
            continue;
        }
        std::optional<Pfn> frame = in_block ? std::optional<Pfn>(block + i) : allocator.alloc_page(ZeroFill::No, MayReclaim::No, FrameHome::Any);
        if (!frame) {
            m_device->slots().drop_cache(slot);
            break;
        }
        prepare_read(*frame, slot, Readahead::Yes, reads[queued++]);
        m_machine.stat().inc(VmStatItem::SwapRa);
    }
    if (queued)
        submit(reads, queued);
    return queued;
}

std::uint32_t SwapState::readahead_window(std::uint32_t offset)
{
    std::uint32_t hits = m_readahead_hits.exchange(0, std::memory_order_relaxed);
    std::uint32_t previous = m_last_readahead_offset.exchange(offset, std::memory_order_relaxed);
    std::uint32_t pages = hits + 2;
    if (pages == 2) {
        // No hits: only a fault next to the previous one earns a window.
        if (offset != previous + 1 && offset + 1 != previous)
            pages = 1;
    } else {
        pages = std::bit_ceil(pages);
    }
    pages = std::min(pages, kReadaroundPages);
    // Do not shrink faster than by half at a time.
    std::uint32_t last = m_last_readahead_window.load(std::memory_order_relaxed) / 2;
    pages = std::max(pages, last);
    m_last_readahead_window.store(pages, std::memory_order_relaxed);
    return std::bit_ceil(pages);
}

void SwapState::end_read(PageFrame& page, int result)
{
    if (result < 0) {
        // The page never held the slot's data: it leaves the cache, and the fault that waits
        // for it raises SIGBUS.
        m_machine.stat().inc(VmStatItem::SwapReadError);
        page.set(PageFlag::Error);
        page.clear(PageFlag::Readahead);
        auto slot = static_cast<std::uint32_t>(page.page_private());
        m_cache->erase(slot, m_machine.arena().pfn_of(page).get());
        page.clear(PageFlag::SwapCache);
        page.set_page_private(0);
        m_device->slots().drop_cache(slot);
        clear_and_wake(page, PageFlag::Locked);
        m_machine.put_page(page);
        return;
    }
    m_machine.stat().inc(VmStatItem::PswpIn);
    m_machine.lruvec().add(page);
    clear_and_wake(page, PageFlag::Locked);
    // Its PTE may have gone while the read was in flight (munmap of a range read ahead).
    free_if_unused(page);
}

void SwapState::free_if_unused(PageFrame& page)
{
    auto slot = static_cast<std::uint32_t>(page.page_private());
    if (!page.test(PageFlag::SwapCache) || m_device->slots().map_value(slot) != SwapSlots::kHasCache)
        return;
    if (!Lruvec::get_unless_zero(page))
        return;
    if (!try_free_cached_page(page))
        m_machine.put_page(page);
}

} // namespace vmemu
