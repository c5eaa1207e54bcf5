#include <vmemu/machine.hpp>
#include <vmemu/trace/frame_state.hpp>
#include <vmemu/trace/trace_sampler.hpp>
#include <vmemu/trace/tracepoint.hpp>

namespace vmemu {

namespace {
constexpr std::uint8_t kUnknown = trace::kFrameStates;
std::atomic<bool> g_sampling { false };
} // namespace

VmResult<std::unique_ptr<TraceSampler>> TraceSampler::start(Machine& machine, std::chrono::milliseconds interval)
{
    if (g_sampling.exchange(true, std::memory_order_acq_rel))
        return vm_fail(EBUSY, "a machine of this process is sampled already");
    return std::unique_ptr<TraceSampler>(new TraceSampler(machine, interval));
}

TraceSampler::TraceSampler(Machine& machine, std::chrono::milliseconds interval)
    : m_machine(machine)
    , m_states(std::make_unique<std::uint8_t[]>(machine.frame_count()))
{
    std::fill_n(m_states.get(), machine.frame_count(), kUnknown);
    m_thread.emplace("vmemu-sampler", interval, [this] { sample(); });
}

TraceSampler::~TraceSampler()
{
    m_thread.reset();
    sample();
    g_sampling.store(false, std::memory_order_release);
}

void TraceSampler::forget_thread_in_child() { m_thread->forget_in_child(); }

void TraceSampler::sample()
{
    if (!trace::enabled())
        return;
    // A new trace starts with every frame.
    if (std::uint64_t session = trace::session(); session != m_session) {
        std::fill_n(m_states.get(), m_machine.frame_count(), kUnknown);
        m_session = session;
    }
    const VmStat& stat = m_machine.stat();
    const Watermarks& marks = m_machine.page_allocator().watermarks();
    const SwapState* swap = m_machine.swap();
    trace::record_sample(trace::Event::ZoneSample, m_machine.free_frames(), marks.min, marks.low, marks.high,
        swap ? swap->cache().pages() : 0);
    const Lruvec& lruvec = m_machine.lruvec();
    trace::record_sample(trace::Event::LruSample, lruvec.size(LruList::InactiveAnon),
        lruvec.size(LruList::ActiveAnon), lruvec.size(LruList::InactiveFile), lruvec.size(LruList::ActiveFile),
        lruvec.size(LruList::Unevictable));
    auto counter = [&](VmStatItem item) { return static_cast<std::uint64_t>(stat.value(item)); };
    trace::record_sample(trace::Event::VmEventSample, counter(VmStatItem::PswpIn), counter(VmStatItem::PswpOut),
        counter(VmStatItem::PgPgIn), counter(VmStatItem::PgPgOut), counter(VmStatItem::PgMajFault));
    // The runs of frames whose state changed, each run of one new state.
    std::size_t frames = m_machine.frame_count();
    std::size_t run_start = 0;
    std::size_t run_length = 0;
    std::uint8_t run_state = kUnknown;
    auto flush = [&] {
        if (run_length)
            trace::record_sample(trace::Event::FrameState, run_start, run_length, run_state);
        run_length = 0;
    };
    for (std::size_t pfn = 0; pfn < frames; ++pfn) {
        auto state = static_cast<std::uint8_t>(trace::frame_state_of(m_machine.arena().frame(Pfn(pfn))));
        if (state == m_states[pfn]) {
            flush();
            continue;
        }
        m_states[pfn] = state;
        if (run_length && state != run_state)
            flush();
        if (!run_length) {
            run_start = pfn;
            run_state = state;
        }
        ++run_length;
    }
    flush();
}

} // namespace vmemu
