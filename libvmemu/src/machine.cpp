#include <vmemu/base/assert.hpp>
#include <vmemu/base/log.hpp>
#include <vmemu/fault/signal_fault_source.hpp>
#include <vmemu/machine.hpp>
#include <vmemu/os/memory.hpp>

namespace vmemu {

VmResult<std::unique_ptr<Machine>> Machine::create(const MachineConfig& config)
{
    if (config.frames < kMinFrames)
        return vm_fail(EINVAL, "too few frames to run (at least 256, 1 MiB)");
    if (config.max_vmas == 0)
        return vm_fail(EINVAL, "max_vmas must be at least 1");
    std::size_t kernel_mappings = config.max_kernel_mappings;
    if (kernel_mappings == 0) {
        constexpr std::size_t kMargin = 1024;
        std::size_t limit = os::max_map_count();
        std::size_t used = os::current_map_count() + kMargin;
        if (limit <= used)
            return vm_fail(ENOMEM, "the process already has nearly vm.max_map_count mappings");
        kernel_mappings = limit - used;
        if (kernel_mappings < 4096)
            log().warn("only {} kernel mappings are left below vm.max_map_count ({}); raise it with "
                       "sysctl vm.max_map_count",
                kernel_mappings, limit);
    }
    auto arena = VM_TRY(FrameArena::create(config.frames));
    auto machine = std::unique_ptr<Machine>(new Machine(config, std::move(arena), kernel_mappings));
    const Watermarks& marks = machine->page_allocator().watermarks();
    log().debug("machine: {} frames ({} KiB), watermarks min {} low {} high {}, {} kernel mappings", config.frames,
        config.frames * (kPageSize / 1024), marks.min, marks.low, marks.high, kernel_mappings);
    return machine;
}

Machine::Machine(const MachineConfig& config, std::unique_ptr<FrameArena> arena, std::size_t kernel_mappings)
    : m_config(config)
    , m_arena(std::move(arena))
    , m_allocator(*m_arena, m_stat)
    , m_budget(kernel_mappings)
{
}

Machine::~Machine() = default;

VmResult<std::unique_ptr<AddressSpace>> Machine::create_address_space(std::size_t reservation_bytes)
{
    constexpr std::size_t kMinReservation = PageTable::kPteTableSpan;
    if (reservation_bytes < kMinReservation || !is_page_aligned(reservation_bytes)
        || reservation_bytes > (std::size_t { 1 } << 46))
        return vm_fail(EINVAL, "reservation must be a page multiple between 2 MiB and 64 TiB");
    if (!m_budget.try_charge(1))
        return vm_fail(ENOMEM, "kernel mapping limit (vm.max_map_count) reached");
    m_budget.charge(-1);
    auto page_table = VM_TRY(PageTable::create(m_allocator, m_stat));
    auto start = os::reserve(reservation_bytes);
    if (!start)
        return std::unexpected(start.error());
    std::unique_ptr<AddressSpace> space(
        new AddressSpace(*this, *start, start->offset(reservation_bytes), std::move(page_table)));
    VM_TRY(SignalFaultSource::instance().attach(*space));
    log().debug("address space: reservation {:#x}-{:#x}", space->reservation_start().get(),
        space->reservation_end().get());
    return space;
}

void Machine::verify_invariants() const
{
    m_allocator.buddy().verify_invariants();
}

} // namespace vmemu
