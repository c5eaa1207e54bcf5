#pragma once
// What a frame is used for, as the frame map of a trace draws it: one state per frame,
// derived from its PageFrame (flags, type, refcount) without any lock, as a snapshot.
#include <cstdint>
#include <vmemu/phys/page_frame.hpp>

namespace vmemu::trace {

enum class FrameState : std::uint8_t {
    Free,
    AnonActive,
    AnonInactive,
    FileActive,
    FileInactive,
    SwapCache, // in the swap cache and mapped nowhere
    Slab,
    PageTable,
    Locked, // under I/O, or being worked on
    Zero,
    Unevictable,
    Other, // allocated, off the LRU (isolated by reclaim, or just allocated)
    Count,
};
inline constexpr unsigned kFrameStates = static_cast<unsigned>(FrameState::Count);

FrameState frame_state_of(const PageFrame& frame);
// "free", "anon_active", ...; "unknown" past the last.
const char* frame_state_name(std::uint64_t state);

} // namespace vmemu::trace
