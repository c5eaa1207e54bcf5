// The rings tracepoints record into: one per thread, claimed on the thread's first event from
// a region mapped when tracing starts (MAP_NORESERVE: a ring costs memory as it fills).
#include <algorithm>
#include <mutex>
#include <new>
#include <bit>
#include <sched.h>
#include <cerrno>
#include <ctime>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vmemu/trace/tracepoint.hpp>
#include "trace_buffer.hpp"

namespace vmemu::trace {

namespace detail {
std::atomic<std::uint8_t> g_mode { 0 };
std::atomic<std::uint64_t> g_event_mask { ~std::uint64_t { 0 } };
} // namespace detail

namespace {
TraceBuffers g_buffers;
SampleLog g_samples;
thread_local Ring* t_ring = nullptr;
thread_local std::uint64_t t_generation = 0;

Ring* claim_ring() noexcept
{
    std::size_t index = g_buffers.rings_claimed.fetch_add(1, std::memory_order_acq_rel);
    if (index >= g_buffers.max_rings) {
        g_buffers.rings_claimed.fetch_sub(1, std::memory_order_acq_rel);
        return nullptr;
    }
    Ring* ring = g_buffers.ring(index);
    ring->tid = static_cast<std::uint32_t>(syscall(SYS_gettid));
    ring->mask = g_buffers.capacity - 1;
    prctl(PR_GET_NAME, ring->comm, 0, 0, 0);
    ring->claimed.store(true, std::memory_order_release);
    t_ring = ring;
    t_generation = g_buffers.generation.load(std::memory_order_acquire);
    return ring;
}
} // namespace

std::uint64_t now_ns() noexcept
{
    timespec now {};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1000000000u + static_cast<std::uint64_t>(now.tv_nsec);
}

void detail::record(Event event, std::uint64_t a0, std::uint64_t a1, std::uint64_t a2, std::uint64_t a3,
    std::uint64_t a4) noexcept
{
    if (!(detail::g_event_mask.load(std::memory_order_relaxed) & (std::uint64_t { 1 } << static_cast<unsigned>(event))))
        return;
    Ring* ring = t_ring;
    if (!ring || t_generation != g_buffers.generation.load(std::memory_order_acquire)) {
        ring = claim_ring();
        if (!ring) {
            g_buffers.lost_threads.fetch_add(1, std::memory_order_relaxed);
            return;
        }
    }
    // A fault handler that interrupts this very thread between these lines takes the next
    // slot: the reservation is atomic even against the thread itself.
    std::uint64_t index = ring->head.fetch_add(1, std::memory_order_relaxed);
    Record& slot = ring->records[index & ring->mask];
    __atomic_store_n(&slot.sequence, 0, __ATOMIC_RELAXED);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    slot.timestamp_ns = now_ns();
    slot.event = static_cast<std::uint16_t>(event);
    unsigned cpu = 0;
    slot.cpu = getcpu(&cpu, nullptr) == 0 ? static_cast<std::uint16_t>(cpu) : 0;
    slot.args[0] = a0;
    slot.args[1] = a1;
    slot.args[2] = a2;
    slot.args[3] = a3;
    slot.args[4] = a4;
    __atomic_store_n(&slot.sequence, index + 1, __ATOMIC_RELEASE);
}

VmResult<void> start(std::size_t events_per_thread, std::size_t max_threads)
{
    if (events_per_thread == 0 || max_threads == 0 || events_per_thread > (std::size_t { 1 } << 30)
        || max_threads > 65536)
        return vm_fail(EINVAL, "trace rings must hold at least one event, for at least one thread");
    if (detail::g_mode.load(std::memory_order_acquire) & detail::kEvents)
        return vm_fail(EBUSY, "tracing is on already");
    std::size_t capacity = std::bit_ceil(events_per_thread);
    std::size_t ring_bytes = sizeof(Ring) + capacity * sizeof(Record);
    // A thread that saw tracing on may still be writing into the old rings: they stay mapped,
    // and are reused when the new ones fit in them.
    if (!g_buffers.memory || capacity != g_buffers.capacity || max_threads > g_buffers.max_rings) {
        void* memory = mmap(nullptr, ring_bytes * max_threads, PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (memory == MAP_FAILED)
            return vm_fail(ENOMEM, "cannot map the trace rings");
        g_buffers.memory = static_cast<std::byte*>(memory);
        g_buffers.capacity = capacity;
        g_buffers.ring_bytes = ring_bytes;
        g_buffers.max_rings = max_threads;
    } else {
        for (std::size_t i = 0; i < g_buffers.max_rings; ++i)
            madvise(g_buffers.ring(i), ring_bytes, MADV_DONTNEED); // zero again
    }
    g_buffers.rings_claimed.store(0, std::memory_order_relaxed);
    g_buffers.lost_threads.store(0, std::memory_order_relaxed);
    {
        std::lock_guard guard(g_samples.lock);
        g_samples.count.store(0, std::memory_order_relaxed);
        g_samples.lost.store(0, std::memory_order_relaxed);
    }
    g_buffers.generation.fetch_add(1, std::memory_order_acq_rel);
    detail::g_mode.fetch_or(detail::kEvents, std::memory_order_release);
    return {};
}

void stop() { detail::g_mode.fetch_and(static_cast<std::uint8_t>(~detail::kEvents), std::memory_order_release); }

void record_sample(Event event, std::uint64_t a0, std::uint64_t a1, std::uint64_t a2, std::uint64_t a3,
    std::uint64_t a4)
{
    if (!enabled()
        || !(detail::g_event_mask.load(std::memory_order_relaxed) & (std::uint64_t { 1 } << static_cast<unsigned>(event))))
        return;
    std::lock_guard guard(g_samples.lock);
    std::uint64_t index = g_samples.count.load(std::memory_order_relaxed);
    std::size_t chunk = index / SampleLog::kChunkRecords;
    if (chunk >= SampleLog::kMaxChunks) {
        g_samples.lost.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    Record* records = g_samples.chunks[chunk].load(std::memory_order_relaxed);
    if (!records) {
        records = new (std::nothrow) Record[SampleLog::kChunkRecords];
        if (!records) {
            g_samples.lost.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        g_samples.chunks[chunk].store(records, std::memory_order_release);
    }
    if (index == 0) {
        g_samples.tid = static_cast<std::uint32_t>(syscall(SYS_gettid));
        prctl(PR_GET_NAME, g_samples.comm, 0, 0, 0);
    }
    Record& slot = records[index % SampleLog::kChunkRecords];
    slot = Record { index + 1, now_ns(), static_cast<std::uint16_t>(event), 0, 0, { a0, a1, a2, a3, a4 } };
    unsigned cpu = 0;
    slot.cpu = getcpu(&cpu, nullptr) == 0 ? static_cast<std::uint16_t>(cpu) : 0;
    g_samples.count.store(index + 1, std::memory_order_release);
}

std::vector<TraceLine> collect_lines(std::uint64_t* written)
{
    std::vector<TraceLine> lines;
    *written = 0;
    std::uint32_t source = 0;
    g_buffers.for_each_ring([&](const Ring& ring) {
        std::uint64_t head = ring.head.load(std::memory_order_acquire);
        *written += head;
        std::uint64_t from = head > g_buffers.capacity ? head - g_buffers.capacity : 0;
        for (std::uint64_t index = from; index < head; ++index) {
            const Record& record = ring.records[index & (g_buffers.capacity - 1)];
            if (__atomic_load_n(&record.sequence, __ATOMIC_ACQUIRE) != index + 1)
                continue; // being written, or overwritten meanwhile
            TraceLine line { ring.comm, ring.tid, source, record };
            if (__atomic_load_n(&record.sequence, __ATOMIC_ACQUIRE) == index + 1)
                lines.push_back(line);
        }
        ++source;
    });
    std::uint64_t samples = g_samples.count.load(std::memory_order_acquire);
    *written += samples + g_samples.lost.load(std::memory_order_relaxed);
    for (std::uint64_t index = 0; index < samples; ++index)
        lines.push_back(TraceLine { g_samples.comm, g_samples.tid, source, g_samples.record(index) });
    // By time; events of one thread with the same timestamp stay in their order.
    std::sort(lines.begin(), lines.end(), [](const TraceLine& a, const TraceLine& b) {
        if (a.record.timestamp_ns != b.record.timestamp_ns)
            return a.record.timestamp_ns < b.record.timestamp_ns;
        return a.source != b.source ? a.source < b.source : a.record.sequence < b.record.sequence;
    });
    return lines;
}

std::uint64_t events_recorded()
{
    std::uint64_t total = g_samples.count.load(std::memory_order_acquire);
    g_buffers.for_each_ring([&](const Ring& ring) {
        total += std::min<std::uint64_t>(ring.head.load(std::memory_order_acquire), g_buffers.capacity);
    });
    return total;
}

std::uint64_t events_lost()
{
    std::uint64_t lost = g_buffers.lost_threads.load(std::memory_order_relaxed)
        + g_samples.lost.load(std::memory_order_relaxed);
    g_buffers.for_each_ring([&](const Ring& ring) {
        std::uint64_t head = ring.head.load(std::memory_order_acquire);
        lost += head > g_buffers.capacity ? head - g_buffers.capacity : 0;
    });
    return lost;
}

const TraceBuffers& buffers() { return g_buffers; }
const SampleLog& sample_log() { return g_samples; }

std::uint64_t session() { return g_buffers.generation.load(std::memory_order_acquire); }

} // namespace vmemu::trace
