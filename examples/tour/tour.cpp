// tour: the chapters of docs/tour.md that run on the library directly.
//
//   tour maps|walk|buddy|slab|cow|latency [--svg FILE] [--trace FILE] [--seconds S] [--slabinfo FILE]
//
// maps     VMAs made, split, punched and merged by mmap, mprotect and munmap, with their pages
// walk     the page-table walk of one address as it is read, written, swapped out and back
// buddy    the buddy allocator splitting a block for one page and merging it back
// slab     the slab caches of a /proc/slabinfo text (--slabinfo, e.g. from `vmemu run --stats`)
// cow      a page shared copy-on-write after fork, and copied at the first write
// latency  page allocation and freeing latency while the machine swaps: idle, under heavy
//          file reads and under heavy file writes (S seconds each), side by side
#include <cerrno>
#include "tour.hpp"

namespace vmemu::tour {

TraceRecording::TraceRecording(Machine& machine, const Options& options)
    : m_machine(machine)
    , m_path(options.trace)
{
    if (m_path.empty())
        return;
    check(trace::start(std::size_t { 1 } << 20), "trace");
    check(machine.start_trace_sampling(), "trace sampling");
}

TraceRecording::~TraceRecording()
{
    if (m_path.empty())
        return;
    m_machine.stop_trace_sampling();
    trace::stop();
    std::FILE* out = std::fopen(m_path.c_str(), "w");
    if (!out) {
        std::fprintf(stderr, "tour: cannot write %s: %s\n", m_path.c_str(), std::strerror(errno));
        std::exit(1);
    }
    trace::write_ftrace(out);
    std::fclose(out);
}

} // namespace vmemu::tour

int main(int argc, char** argv)
{
    using namespace vmemu::tour;
    auto usage = [](const char* message) {
        std::fprintf(stderr, "tour: %s\nusage: tour maps|walk|buddy|slab|cow|latency [--svg FILE] [--trace FILE] [--seconds S] "
                     "[--slabinfo FILE]\n", message);
        std::exit(2);
    };
    if (argc < 2)
        usage("which chapter?");
    std::string chapter = argv[1];
    Options options;
    for (int i = 2; i < argc; ++i) {
        std::string option = argv[i];
        if (i + 1 >= argc)
            usage(("option " + option + " needs a value").c_str());
        const char* value = argv[++i];
        if (option == "--trace") {
            options.trace = value;
        } else if (option == "--svg") {
            options.svg = value;
        } else if (option == "--slabinfo") {
            options.slabinfo = value;
        } else if (option == "--seconds") {
            char* end = nullptr;
            options.seconds = std::strtod(value, &end);
            if (*value == '\0' || *end != '\0' || !(options.seconds > 0 && options.seconds <= 3600))
                usage("--seconds takes a number of seconds above 0, at most 3600");
        } else {
            usage(("unknown option " + option).c_str());
        }
    }
    static constexpr struct {
        const char* name;
        int (*run)(const Options&);
    } kChapters[] = { { "maps", maps_chapter }, { "walk", walk_chapter }, { "buddy", buddy_chapter },
        { "slab", slab_chapter }, { "cow", cow_chapter }, { "latency", latency_chapter } };
    for (const auto& known : kChapters) {
        if (chapter == known.name)
            return known.run(options);
    }
    usage(("no chapter " + chapter).c_str());
}
