#include <cstdlib>
#include <cstring>
#include <vmemu/base/assert.hpp>
#include <vmemu/base/log.hpp>
#include <vmemu/fault/signal_fault_source.hpp>
#include <vmemu/machine.hpp>
#include <cerrno>
#include <csignal>
#include <unistd.h>
#include <vmemu/os/memory.hpp>
#include <vmemu/os/signals.hpp>
#include <vmemu/sync/scoped_lock.hpp>

namespace vmemu {

namespace {
// FaultSourceKind::Auto: what the environment asks for, Auto itself when it asks for nothing.
VmResult<FaultSourceKind> resolve_fault_source(FaultSourceKind kind)
{
    if (kind != FaultSourceKind::Auto)
        return kind;
    const char* backend = std::getenv("VMEMU_BACKEND");
    if (!backend || std::strcmp(backend, "auto") == 0)
        return FaultSourceKind::Auto;
    if (std::strcmp(backend, "signal") == 0)
        return FaultSourceKind::Signal;
    if (std::strcmp(backend, "uffd") == 0)
        return FaultSourceKind::Userfault;
    return vm_fail(EINVAL, "VMEMU_BACKEND must be auto, signal or uffd");
}
} // namespace

VmResult<std::unique_ptr<Machine>> Machine::create(const MachineConfig& requested)
{
    MachineConfig config = requested;
    config.fault_source = VM_TRY(resolve_fault_source(requested.fault_source));
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
    if (config.swap)
        machine->m_swap = VM_TRY(SwapState::create(*config.swap, *machine));
    if (config.kswapd)
        machine->m_kswapd = std::make_unique<Kswapd>(*machine);
    if (config.fault_source == FaultSourceKind::Auto) {
        // userfaultfd in SIGBUS mode where the kernel has it (and a seccomp policy allows it);
        // the SIGSEGV view otherwise.
        auto source = UserfaultFaultSource::create(*machine, os::Userfaultfd::Delivery::Sigbus);
        if (source) {
            machine->m_userfault = std::move(*source);
            machine->m_config.fault_source = FaultSourceKind::Userfault;
        } else {
            log().info("the SIGSEGV view: {} ({})", source.error().what(), std::strerror(source.error().code()));
            machine->m_config.fault_source = FaultSourceKind::Signal;
        }
    } else if (config.fault_source == FaultSourceKind::Userfault)
        machine->m_userfault = VM_TRY(UserfaultFaultSource::create(*machine, os::Userfaultfd::Delivery::Sigbus));
    else if (config.fault_source == FaultSourceKind::UserfaultThread)
        machine->m_userfault = VM_TRY(UserfaultFaultSource::create(*machine, os::Userfaultfd::Delivery::Message));
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
    , m_workingset(m_arena->frame_count())
    , m_vmscan(*this)
{
    m_allocator.set_reclaim_hooks({ this, &Machine::wake_kswapd_hook, &Machine::direct_reclaim_hook });
}

Machine::~Machine()
{
    m_publisher.reset();
    m_sampler.reset();
    m_userfault.reset();
    m_kswapd.reset();
    m_writeback.stop_flusher();
    m_file_io_published.store(nullptr, std::memory_order_release);
    m_file_io.reset();
    // Completions still use swap(): let them finish while it is set.
    wait_for_swap_io();
    m_swap.reset();
}

VmResult<void> Machine::start_trace_sampling(std::chrono::milliseconds interval)
{
    if (interval.count() <= 0 || interval > std::chrono::minutes { 1 })
        return vm_fail(EINVAL, "the sampling interval must be between 1 ms and a minute");
    if (m_sampler)
        return vm_fail(EBUSY, "the machine is sampled already");
    m_sampler = VM_TRY(TraceSampler::start(*this, interval));
    return {};
}

void Machine::stop_trace_sampling() { m_sampler.reset(); }

VmResult<void> Machine::publish_stats(std::chrono::milliseconds interval)
{
    if (m_publisher)
        return vm_fail(EBUSY, "the machine publishes its counters already");
    m_publisher = VM_TRY(StatsPublisher::start(*this, interval));
    return {};
}

void Machine::wake_kswapd_hook(void* context)
{
    auto* machine = static_cast<Machine*>(context);
    if (machine->m_kswapd)
        machine->m_kswapd->wake();
}

bool Machine::direct_reclaim_hook(void* context, std::size_t pages)
{
    return static_cast<Machine*>(context)->m_vmscan.direct_reclaim(pages);
}

void Machine::put_page(PageFrame& page)
{
    if (page.refcount.fetch_sub(1, std::memory_order_acq_rel) == 1)
        release_page(page);
}

void Machine::release_page(PageFrame& page)
{
    VM_ASSERT(page.refcount.load(std::memory_order_acquire) == 0);
    m_lruvec.remove(page);
    m_allocator.free_page(m_arena->pfn_of(page));
}

void Machine::page_add_anon_rmap(PageFrame& page)
{
    if (page.mapcount.fetch_add(1, std::memory_order_acq_rel) == 0)
        m_stat.inc(VmStatItem::NrAnonPages);
}

void Machine::page_add_file_rmap(PageFrame& page)
{
    if (page.mapcount.fetch_add(1, std::memory_order_acq_rel) == 0)
        m_stat.inc(VmStatItem::NrMapped);
}

void Machine::page_remove_rmap(PageFrame& page)
{
    std::int32_t left = page.mapcount.fetch_sub(1, std::memory_order_acq_rel) - 1;
    VM_ASSERT(left >= 0);
    if (left == 0)
        m_stat.dec(page.test(PageFlag::SwapBacked) ? VmStatItem::NrAnonPages : VmStatItem::NrMapped);
}

void Machine::register_space(AddressSpace& space)
{
    os::ScopedAsyncSignalBlock signals;
    ScopedLock guard(m_spaces_lock);
    for (AddressSpace*& slot : m_spaces) {
        if (!slot) {
            slot = &space;
            return;
        }
    }
    VM_ASSERT(!"more address spaces than the fault source can take");
}

void Machine::unregister_space(AddressSpace& space)
{
    os::ScopedAsyncSignalBlock signals;
    ScopedLock guard(m_spaces_lock);
    for (AddressSpace*& slot : m_spaces) {
        if (slot == &space)
            slot = nullptr;
    }
}

bool Machine::commit(std::size_t pages)
{
    auto delta = static_cast<std::int64_t>(pages);
    if (m_config.oom_policy != OomPolicy::FailMappings) {
        m_committed.fetch_add(delta, std::memory_order_relaxed);
        return true;
    }
    // CommitLimit: the frames (less what page tables will need) plus the swap slots.
    auto limit = static_cast<std::int64_t>(frame_count() - frame_count() / 64
        + (m_swap ? m_swap->device().slots().total_slots() : 0));
    std::int64_t committed = m_committed.load(std::memory_order_relaxed);
    do {
        if (committed + delta > limit)
            return false;
    } while (!m_committed.compare_exchange_weak(committed, committed + delta, std::memory_order_relaxed));
    return true;
}

void Machine::uncommit(std::size_t pages) { m_committed.fetch_sub(static_cast<std::int64_t>(pages), std::memory_order_relaxed); }

std::size_t Machine::reclaim(std::size_t nr_pages)
{
    os::ScopedAsyncSignalBlock signals;
    std::size_t done = 0;
    while (done < nr_pages) {
        std::size_t progress = m_vmscan.shrink_node(nr_pages - done, ReclaimMode::Direct);
        if (progress == 0)
            break;
        done += progress;
    }
    return done;
}

void Machine::wait_for_swap_io() const
{
    if (!m_swap)
        return;
    while (m_swap->device().in_flight() != 0)
        sched_yield();
}

void Machine::out_of_memory(std::uintptr_t address) const
{
    // The spirit of the kernel's "Out of memory: Killed process" line, written with
    // async-signal-safe calls only: this runs in the fault handler.
    char number[24];
    auto decimal = [&](std::uint64_t value) { return os::format_decimal(value, number); };
    auto pages = [](std::int64_t count) { return static_cast<std::uint64_t>(count < 0 ? 0 : count); };
    auto kb = [&](std::int64_t count) { return pages(count) * (kPageSize / 1024); };
    std::uint64_t swap_used = 0;
    std::uint64_t swap_total = 0;
    if (m_swap) {
        swap_total = m_swap->device().slots().total_slots();
        swap_used = swap_total - m_swap->device().slots().nr_free();
    }
    const_cast<VmStat&>(m_stat).inc(VmStatItem::OomKill);
    os::write_stderr("vmemu: Out of memory: Killed process ");
    os::write_stderr(decimal(static_cast<std::uint64_t>(getpid())));
    os::write_stderr(" (");
    os::write_stderr(program_invocation_short_name);
    os::write_stderr(") at ");
    os::write_stderr(os::format_hex(address, number));
    os::write_stderr(" anon-rss:");
    os::write_stderr(decimal(kb(m_stat.value(VmStatItem::NrAnonPages))));
    os::write_stderr("kB, swap:");
    os::write_stderr(decimal(swap_used * (kPageSize / 1024)));
    os::write_stderr("kB of ");
    os::write_stderr(decimal(swap_total * (kPageSize / 1024)));
    os::write_stderr("kB, pgtables:");
    os::write_stderr(decimal(kb(m_stat.value(VmStatItem::NrPageTablePages))));
    os::write_stderr("kB, free:");
    os::write_stderr(decimal(free_frames() * (kPageSize / 1024)));
    os::write_stderr("kB of ");
    os::write_stderr(decimal(frame_count() * (kPageSize / 1024)));
    os::write_stderr("kB\n");
    // show_mem()'s Mem-Info, in pages: what reclaim had left to take, and what it waited for.
    struct Field {
        const char* name;
        std::uint64_t pages;
    };
    auto lru = [&](LruList list) { return static_cast<std::uint64_t>(m_lruvec.size(list)); };
    const Field fields[] = {
        { "Mem-Info: active_anon:", lru(LruList::ActiveAnon) },
        { " inactive_anon:", lru(LruList::InactiveAnon) },
        { " active_file:", lru(LruList::ActiveFile) },
        { " inactive_file:", lru(LruList::InactiveFile) },
        { " unevictable:", lru(LruList::Unevictable) },
        { " dirty:", pages(m_stat.value(VmStatItem::NrDirty)) },
        { " writeback:", pages(m_stat.value(VmStatItem::NrWriteback)) },
        { " swap_io:", m_swap ? m_swap->device().in_flight() : 0u },
        { " file_io:", file_io_in_flight() },
        { " free:", free_frames() },
        { " min:", m_allocator.watermarks().min },
    };
    for (const Field& field : fields) {
        os::write_stderr(field.name);
        os::write_stderr(decimal(field.pages));
    }
    os::write_stderr("\n");
    ::kill(getpid(), SIGKILL);
    for (;;)
        pause();
}

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
    bool sigbus = m_userfault && m_userfault->delivery() == os::Userfaultfd::Delivery::Sigbus;
    VM_TRY(SignalFaultSource::instance().attach(*space,
        sigbus ? SignalFaultSource::MissingPages::Sigbus : SignalFaultSource::MissingPages::Sigsegv));
    if (m_userfault)
        VM_TRY(m_userfault->attach(*space));
    register_space(*space);
    log().debug("address space: reservation {:#x}-{:#x}", space->reservation_start().get(),
        space->reservation_end().get());
    return space;
}

void Machine::verify_invariants() const
{
    // Frames in flight between their last reference and the buddy allocator count as neither
    // allocated nor free: let kswapd's batch and the swap I/O finish first. (The program's own
    // threads must be quiet too.)
    std::optional<ScopedReclaimPause> pause;
    if (m_kswapd)
        pause.emplace(*m_kswapd);
    wait_for_swap_io();
    os::ScopedAsyncSignalBlock signals;
    m_allocator.buddy().verify_invariants();
    m_lruvec.verify_invariants();
    if (m_swap)
        m_swap->device().slots().verify_invariants();
}

} // namespace vmemu
