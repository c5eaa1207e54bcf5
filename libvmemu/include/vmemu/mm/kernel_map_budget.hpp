#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace vmemu {

// How many real kernel mappings (VMAs of the process) a Machine's hardware views may use.
// Every run of pages mapped at consecutive memfd offsets with one protection is one kernel
// VMA, and so is every PROT_NONE gap between runs; vm.max_map_count caps the total. The
// callers compute each change's exact effect on the count, and a change that would pass the
// limit is refused up front, so vmemu never runs into the kernel's ENOMEM blindly.
// Locking: lock-free; charges are atomic.
class KernelMapBudget {
public:
    explicit KernelMapBudget(std::size_t limit)
        : m_limit(static_cast<std::int64_t>(limit))
    {
    }
    // Adds delta; refuses (and changes nothing) if a growth would pass the limit.
    bool try_charge(std::int64_t delta)
    {
        if (delta <= 0) {
            charge(delta);
            return true;
        }
        std::int64_t used = m_used.load(std::memory_order_relaxed);
        do {
            if (used + delta > m_limit)
                return false;
        } while (!m_used.compare_exchange_weak(used, used + delta, std::memory_order_relaxed));
        return true;
    }
    // Adds delta unconditionally; for changes that take access away, which must happen.
    void charge(std::int64_t delta) { m_used.fetch_add(delta, std::memory_order_relaxed); }
    std::int64_t used() const { return m_used.load(std::memory_order_relaxed); }
    std::int64_t limit() const { return m_limit; }

private:
    std::int64_t m_limit;
    std::atomic<std::int64_t> m_used { 0 };
};

} // namespace vmemu
