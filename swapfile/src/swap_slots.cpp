#include <vmemu/base/assert.hpp>
#include <vmemu/swap/swap_slots.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

SwapSlots::SwapSlots(std::uint32_t last_page)
    : m_last_page(last_page)
{
    ScopedLock guard(m_lock);
    std::uint32_t clusters = (last_page + kClusterSlots) / kClusterSlots;
    m_swap_map.assign(std::size_t { last_page } + 1, 0);
    m_swap_map[0] = kMapBad;
    m_cluster_used.assign(clusters, 0);
    m_cluster_next.assign(clusters, kNoCluster);
    m_cluster_listed.assign(clusters, false);
    m_cluster_used[0] = 1; // the header
    // Slots past last_page in the final cluster count as used, so that it never looks free.
    m_cluster_used[clusters - 1] += static_cast<std::uint16_t>(clusters * kClusterSlots - (last_page + 1));
    for (std::uint32_t cluster = clusters; cluster-- > 0;) {
        if (m_cluster_used[cluster] == 0) {
            m_cluster_next[cluster] = m_free_clusters;
            m_free_clusters = cluster;
            m_cluster_listed[cluster] = true;
        }
    }
    m_nr_free.store(last_page, std::memory_order_relaxed);
}

bool SwapSlots::take_free_cluster_locked()
{
    if (m_free_clusters == kNoCluster)
        return false;
    m_current_cluster = m_free_clusters;
    m_free_clusters = m_cluster_next[m_current_cluster];
    m_cluster_listed[m_current_cluster] = false;
    return true;
}

std::size_t SwapSlots::alloc(std::size_t count, std::uint32_t* out)
{
    ScopedLock guard(m_lock);
    std::size_t taken = 0;
    auto take = [&](std::uint32_t offset) VM_REQUIRES(m_lock) {
        m_swap_map[offset] = kHasCache;
        ++m_cluster_used[cluster_of(offset)];
        out[taken++] = offset;
    };
    // First from the current cluster, then from whole free clusters, so that a batch is
    // consecutive on disk.
    while (taken < count) {
        if (m_current_cluster == kNoCluster && !take_free_cluster_locked())
            break;
        std::uint32_t begin = std::max<std::uint32_t>(m_current_cluster * kClusterSlots, 1);
        std::uint32_t end = std::min<std::uint32_t>((m_current_cluster + 1) * kClusterSlots, m_last_page + 1);
        for (std::uint32_t offset = begin; offset < end && taken < count; ++offset) {
            if (m_swap_map[offset] == 0)
                take(offset);
        }
        if (taken < count)
            m_current_cluster = kNoCluster; // this one is full
    }
    // Fragmented: scan every slot (scan_swap_map_slots()'s slow path).
    for (std::uint32_t scanned = 0; taken < count && scanned < m_last_page && m_nr_free.load() > taken; ++scanned) {
        std::uint32_t offset = m_scan_from;
        m_scan_from = m_scan_from == m_last_page ? 1 : m_scan_from + 1;
        if (m_swap_map[offset] != 0)
            continue;
        std::uint32_t cluster = cluster_of(offset);
        if (m_cluster_listed[cluster])
            continue; // whole free clusters were taken above; none are left
        take(offset);
    }
    m_nr_free.fetch_sub(static_cast<std::uint32_t>(taken), std::memory_order_relaxed);
    return taken;
}

void SwapSlots::slot_freed_locked(std::uint32_t offset)
{
    std::uint32_t cluster = cluster_of(offset);
    m_nr_free.fetch_add(1, std::memory_order_relaxed);
    if (--m_cluster_used[cluster] == 0 && cluster != m_current_cluster) {
        m_cluster_next[cluster] = m_free_clusters;
        m_free_clusters = cluster;
        m_cluster_listed[cluster] = true;
    }
}

bool SwapSlots::add_reference(std::uint32_t offset)
{
    ScopedLock guard(m_lock);
    VM_ASSERT(offset >= 1 && offset <= m_last_page && m_swap_map[offset] != 0);
    if ((m_swap_map[offset] & kCountMask) >= kMapMax)
        return false;
    ++m_swap_map[offset];
    return true;
}

std::uint8_t SwapSlots::drop_reference(std::uint32_t offset)
{
    ScopedLock guard(m_lock);
    VM_ASSERT(offset >= 1 && offset <= m_last_page && (m_swap_map[offset] & kCountMask) != 0);
    std::uint8_t value = --m_swap_map[offset];
    if (value == 0)
        slot_freed_locked(offset);
    return value;
}

std::uint8_t SwapSlots::drop_cache(std::uint32_t offset)
{
    ScopedLock guard(m_lock);
    VM_ASSERT(offset >= 1 && offset <= m_last_page && (m_swap_map[offset] & kHasCache));
    std::uint8_t value = m_swap_map[offset] &= static_cast<std::uint8_t>(~kHasCache);
    if (value == 0)
        slot_freed_locked(offset);
    return value;
}

bool SwapSlots::take_cache(std::uint32_t offset)
{
    ScopedLock guard(m_lock);
    VM_ASSERT(offset >= 1 && offset <= m_last_page);
    std::uint8_t value = m_swap_map[offset];
    if ((value & kHasCache) || (value & kCountMask) == 0)
        return false;
    m_swap_map[offset] = value | kHasCache;
    return true;
}

std::uint8_t SwapSlots::map_value(std::uint32_t offset) const
{
    ScopedLock guard(m_lock);
    return offset <= m_last_page ? m_swap_map[offset] : kMapBad;
}

void SwapSlots::verify_invariants() const
{
    ScopedLock guard(m_lock);
    std::uint32_t clusters = static_cast<std::uint32_t>(m_cluster_used.size());
    std::uint32_t free_slots = 0;
    for (std::uint32_t cluster = 0; cluster < clusters; ++cluster) {
        std::uint32_t used = 0;
        for (std::uint32_t slot = 0; slot < kClusterSlots; ++slot) {
            std::uint32_t offset = cluster * kClusterSlots + slot;
            bool in_use = offset > m_last_page || m_swap_map[offset] != 0;
            used += in_use;
            free_slots += !in_use;
        }
        VM_ASSERT(used == m_cluster_used[cluster]);
        if (used != 0)
            VM_ASSERT(!m_cluster_listed[cluster]);
        else if (cluster != m_current_cluster)
            VM_ASSERT(m_cluster_listed[cluster]);
    }
    std::uint32_t listed = 0;
    for (std::uint32_t cluster = m_free_clusters; cluster != kNoCluster; cluster = m_cluster_next[cluster]) {
        VM_ASSERT(m_cluster_used[cluster] == 0 && m_cluster_listed[cluster]);
        ++listed;
        VM_ASSERT(listed <= clusters);
    }
    VM_ASSERT(m_swap_map[0] == kMapBad);
    VM_ASSERT(free_slots == m_nr_free.load());
}

} // namespace vmemu
