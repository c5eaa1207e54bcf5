#include <vmemu/trace/frame_state.hpp>

namespace vmemu::trace {

namespace {
constexpr const char* kNames[kFrameStates] = { "free", "anon_active", "anon_inactive", "file_active",
    "file_inactive", "swap_cache", "slab", "page_table", "locked", "zero", "unevictable", "other" };
constexpr std::uint32_t bit(PageFlag flag) { return static_cast<std::uint32_t>(flag); }
} // namespace

FrameState frame_state_of(const PageFrame& frame)
{
    if (frame.refcount.load(std::memory_order_relaxed) == 0)
        return FrameState::Free;
    if (frame.type() == PageType::PageTable)
        return FrameState::PageTable;
    if (frame.type() == PageType::Zero)
        return FrameState::Zero;
    std::uint32_t flags = frame.flags.load(std::memory_order_relaxed);
    if (flags & bit(PageFlag::Slab))
        return FrameState::Slab;
    if (flags & bit(PageFlag::Locked))
        return FrameState::Locked;
    // A page both in the swap cache and mapped is anonymous memory in use, on its LRU list;
    // swap_cache is the page that only the cache holds.
    if ((flags & bit(PageFlag::SwapCache)) && frame.mapcount.load(std::memory_order_relaxed) == 0)
        return FrameState::SwapCache;
    if (flags & (bit(PageFlag::Unevictable) | bit(PageFlag::Mlocked)))
        return FrameState::Unevictable;
    if (!(flags & bit(PageFlag::Lru)))
        return FrameState::Other;
    bool active = flags & bit(PageFlag::Active);
    if (flags & bit(PageFlag::SwapBacked))
        return active ? FrameState::AnonActive : FrameState::AnonInactive;
    return active ? FrameState::FileActive : FrameState::FileInactive;
}

const char* frame_state_name(std::uint64_t state) { return state < kFrameStates ? kNames[state] : "unknown"; }

} // namespace vmemu::trace
