#pragma once
// The trace rings, shared by the recording side (trace_buffer.cpp) and the exporters.
// Invariants: a ring's records[i & (capacity - 1)] holds the record with index i of the
// ring's head when its sequence is i + 1; a record being written has sequence 0.
// Locking: none; each ring has one writer (its thread, and that thread's signal handlers).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>
#include <vmemu/trace/tracepoint.hpp>

namespace vmemu::trace {

struct Ring {
    std::atomic<std::uint64_t> head { 0 }; // records reserved so far
    std::atomic<bool> claimed { false };
    std::uint32_t tid { 0 };
    char comm[16] {};
    // capacity - 1 of the buffers the ring was claimed from: a writer that started before a
    // restart with other sizes still stays inside its own ring.
    std::uint64_t mask { 0 };
    std::byte padding[64 - 8 - 4 - 4 - 16 - 8];
    Record records[1]; // capacity of them, in fact
};
static_assert(offsetof(Ring, records) == 64);

struct TraceBuffers {
    std::byte* memory { nullptr };
    std::size_t capacity { 0 }; // records per ring, a power of two
    std::size_t ring_bytes { 0 };
    std::size_t max_rings { 0 };
    std::atomic<std::size_t> rings_claimed { 0 };
    std::atomic<std::uint64_t> lost_threads { 0 };
    std::atomic<std::uint64_t> generation { 0 };

    Ring* ring(std::size_t index) const { return reinterpret_cast<Ring*>(memory + index * ring_bytes); }
    template<typename Visit>
    void for_each_ring(Visit&& visit) const
    {
        std::size_t claimed = std::min(rings_claimed.load(std::memory_order_acquire), max_rings);
        for (std::size_t i = 0; i < claimed; ++i) {
            if (ring(i)->claimed.load(std::memory_order_acquire))
                visit(*ring(i));
        }
    }
};

// The sampler's log: every record it made since start(), in chunks that are allocated as it
// grows and kept for the next start(). Writers take `lock`; readers read the first `count`
// records, which stay as they are.
struct SampleLog {
    std::mutex lock;
    static constexpr std::size_t kChunkRecords = std::size_t { 1 } << 16;
    static constexpr std::size_t kMaxChunks = 1024;
    std::atomic<Record*> chunks[kMaxChunks] {};
    std::atomic<std::uint64_t> count { 0 };
    std::atomic<std::uint64_t> lost { 0 };
    std::uint32_t tid { 0 };
    char comm[16] {};

    const Record& record(std::uint64_t index) const
    {
        return chunks[index / kChunkRecords].load(std::memory_order_acquire)[index % kChunkRecords];
    }
};

const TraceBuffers& buffers();
const SampleLog& sample_log();

// One event, with the thread that recorded it.
struct TraceLine {
    const char* comm;
    std::uint32_t tid;
    std::uint32_t source; // which ring (or the sample log), to keep a thread's order on ties
    Record record;
};
// Every whole record of the rings and the sample log, in time order; *written counts the
// records ever written, lost ones included.
std::vector<TraceLine> collect_lines(std::uint64_t* written);

} // namespace vmemu::trace
