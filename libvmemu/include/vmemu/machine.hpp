#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vmemu/address_space.hpp>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/fault/mmu.hpp>
#include <vmemu/phys/frame_arena.hpp>
#include <vmemu/phys/page_allocator.hpp>
#include <vmemu/stats/vm_stat.hpp>

namespace vmemu {

struct MachineConfig {
    // Physical frames of 4 KiB. At least kMinFrames.
    std::size_t frames { 8192 };
    // Real kernel mappings all of this Machine's address spaces may use; 0 means
    // vm.max_map_count less the mappings the process has now, less a margin of 1024.
    std::size_t max_kernel_mappings { 0 };
    // VMAs per address space, as vm.max_map_count limits them in Linux.
    std::size_t max_vmas { 65530 };
};

// A machine: the physical memory (frame arena, buddy allocator, zero frames), the counters,
// and the address spaces that run on it. Address spaces must die before their Machine.
// Locking: the parts lock themselves; the Machine adds none.
class Machine {
public:
    static constexpr std::size_t kMinFrames = 256;
    static constexpr std::size_t kDefaultReservation = std::size_t { 64 } << 30;

    // EINVAL for a frame count below kMinFrames or too large; errors of memfd_create and mmap.
    static VmResult<std::unique_ptr<Machine>> create(const MachineConfig& config);
    ~Machine();
    Machine(const Machine&) = delete;
    Machine& operator=(const Machine&) = delete;

    // A new address space with a PROT_NONE reservation of reservation_bytes (page multiple,
    // at least 2 MiB), attached to the SIGSEGV fault source.
    VmResult<std::unique_ptr<AddressSpace>> create_address_space(std::size_t reservation_bytes = kDefaultReservation);

    // /proc/meminfo, /proc/vmstat, /proc/buddyinfo and /proc/zoneinfo of this machine.
    std::string meminfo() const;
    std::string vmstat() const;
    std::string buddyinfo() const;
    std::string zoneinfo() const;

    std::size_t frame_count() const { return m_arena->frame_count(); }
    std::size_t free_frames() const { return m_allocator.buddy().nr_free(); }
    const VmStat& stat() const { return m_stat; }
    VmStat& stat() { return m_stat; }
    FrameArena& arena() { return *m_arena; }
    PageAllocator& page_allocator() { return m_allocator; }
    const PageAllocator& page_allocator() const { return m_allocator; }
    KernelMapBudget& kernel_map_budget() { return m_budget; }
    const MachineConfig& config() const { return m_config; }

    void verify_invariants() const;

private:
    Machine(const MachineConfig& config, std::unique_ptr<FrameArena> arena, std::size_t kernel_mappings);

    MachineConfig m_config;
    std::unique_ptr<FrameArena> m_arena;
    VmStat m_stat;
    PageAllocator m_allocator;
    KernelMapBudget m_budget;
};

} // namespace vmemu
