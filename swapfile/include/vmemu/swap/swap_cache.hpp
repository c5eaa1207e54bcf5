#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

namespace vmemu {

// The swap cache of mm/swap_state.c: for each slot of a swap device, the frame that holds the
// slot's page while it is on its way out (writeback), on its way in (read), or shared between
// memory and disk. Frames are plain numbers here; their owner gives them meaning.
// Invariants: a slot caches at most one frame; the slot's SWAP_HAS_CACHE bit is set while it
// does (the owner keeps the two in step).
// Locking: lock-free; each slot is one atomic word (0 means empty, else frame + 1).
class SwapCache {
public:
    explicit SwapCache(std::uint32_t slots)
        : m_frames(std::make_unique<std::atomic<std::uint64_t>[]>(std::size_t { slots } + 1))
        , m_slots(slots)
    {
    }

    // Puts frame in slot; false if the slot already caches a frame.
    bool insert(std::uint32_t slot, std::uint64_t frame)
    {
        std::uint64_t expected = 0;
        bool inserted = m_frames[slot].compare_exchange_strong(expected, frame + 1, std::memory_order_acq_rel);
        if (inserted)
            m_pages.fetch_add(1, std::memory_order_relaxed);
        return inserted;
    }
    std::optional<std::uint64_t> lookup(std::uint32_t slot) const
    {
        std::uint64_t value = m_frames[slot].load(std::memory_order_acquire);
        return value ? std::optional<std::uint64_t>(value - 1) : std::nullopt;
    }
    // Empties slot if it holds frame.
    bool erase(std::uint32_t slot, std::uint64_t frame)
    {
        std::uint64_t expected = frame + 1;
        bool erased = m_frames[slot].compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
        if (erased)
            m_pages.fetch_sub(1, std::memory_order_relaxed);
        return erased;
    }
    // Pages in the cache: SwapCached in meminfo.
    std::uint64_t pages() const { return m_pages.load(std::memory_order_relaxed); }
    std::uint32_t slots() const { return m_slots; }

private:
    std::unique_ptr<std::atomic<std::uint64_t>[]> m_frames;
    std::uint32_t m_slots;
    std::atomic<std::uint64_t> m_pages { 0 };
};

} // namespace vmemu
