#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "frame_map_svg.hpp"
#include "report_command.hpp"
#include "report_data.hpp"

namespace vmemu::cli {

extern const char kReportTemplate[];

namespace {

constexpr int kBadInput = 2;
constexpr std::string_view kMarker = "@VMEMU_REPORT_DATA@";

int fail(const std::string& message, int status = kBadInput)
{
    std::fprintf(stderr, "vmemu report: %s\n", message.c_str());
    return status;
}

// The trace file, mapped; empty, after a message, when it cannot be read.
class MappedTrace {
public:
    explicit MappedTrace(const char* path)
    {
        int fd = ::open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            m_error = std::strerror(errno);
            return;
        }
        struct stat status {};
        if (fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
            m_error = "not a regular file";
        } else if (status.st_size > 0) {
            void* at = mmap(nullptr, static_cast<std::size_t>(status.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
            if (at == MAP_FAILED)
                m_error = std::strerror(errno);
            else
                m_text = std::string_view(static_cast<const char*>(at), static_cast<std::size_t>(status.st_size));
        }
        ::close(fd);
    }
    ~MappedTrace()
    {
        if (!m_text.empty())
            munmap(const_cast<char*>(m_text.data()), m_text.size());
    }
    MappedTrace(const MappedTrace&) = delete;
    MappedTrace& operator=(const MappedTrace&) = delete;

    std::string_view text() const { return m_text; }
    const char* error() const { return m_error; }

private:
    std::string_view m_text;
    const char* m_error { nullptr };
};

// Writes path, or standard output when path is "-".
bool write_file(const std::string& path, const auto& write)
{
    if (path == "-") {
        write(stdout);
        return std::fflush(stdout) == 0 && !std::ferror(stdout);
    }
    std::FILE* out = std::fopen(path.c_str(), "w");
    if (!out)
        return false;
    write(out);
    bool failed = std::ferror(out);
    return std::fclose(out) == 0 && !failed;
}

void write_report(std::FILE* out, const ReportData& data)
{
    std::string_view page(kReportTemplate);
    std::size_t marker = page.find(kMarker);
    std::fwrite(page.data(), 1, marker, out);
    write_report_json(out, data);
    page.remove_prefix(marker + kMarker.size());
    std::fwrite(page.data(), 1, page.size(), out);
}

} // namespace

int report_command(int argc, char** argv)
{
    const char* trace_path = nullptr;
    std::string output;
    std::string svg;
    const char* at = nullptr;
    for (int i = 0; i < argc; ++i) {
        std::string_view option = argv[i];
        bool takes_value = option == "-o" || option == "--svg" || option == "--at";
        if (takes_value && i + 1 >= argc)
            return fail("option " + std::string(option) + " needs a value");
        if (option == "-o")
            output = argv[++i];
        else if (option == "--svg")
            svg = argv[++i];
        else if (option == "--at")
            at = argv[++i];
        else if (option.starts_with("-"))
            return fail("unknown option " + std::string(option));
        else if (trace_path)
            return fail("one trace at a time (" + std::string(option) + ")");
        else
            trace_path = argv[i];
    }
    if (!trace_path)
        return fail("no trace (vmemu report TRACE [-o REPORT.html] [--svg FRAME_MAP.svg [--at SECONDS]])");
    if (at && svg.empty())
        return fail("--at needs --svg FILE");
    double at_seconds = -1;
    if (at) {
        auto [end, error] = std::from_chars(at, at + std::strlen(at), at_seconds);
        if (error != std::errc() || *end || !(at_seconds >= 0) || !std::isfinite(at_seconds))
            return fail(std::string("--at ") + at + ": not a time in seconds from the trace's start");
    }
    if (output.empty() && svg.empty())
        output = std::string(trace_path) + ".html";

    if (std::string_view(trace_path).ends_with(".json"))
        return fail(std::string(trace_path) + " is a Chrome trace, for Perfetto: the report reads the ftrace text "
                                              "trace (vmemu run --trace FILE, without .json)");
    MappedTrace trace(trace_path);
    if (trace.error())
        return fail(std::string("cannot read ") + trace_path + ": " + trace.error());
    ReportData data = build_report(trace.text(), std::string("vmemu report: ") + trace_path);
    if (data.event_counts.empty())
        return fail(std::string(trace_path) + ": no events: not a trace of vmemu run --trace"
            + (data.problems.first.empty() ? "" : " (" + data.problems.first.front() + ")"));
    // Where the trace breaks: the report draws what it can.
    for (const std::string& problem : data.problems.first)
        std::fprintf(stderr, "vmemu report: %s: %s\n", trace_path, problem.c_str());
    if (data.problems.count > data.problems.first.size())
        std::fprintf(stderr, "vmemu report: %s: and %zu more problems\n", trace_path,
            data.problems.count - data.problems.first.size());

    if (!output.empty()) {
        if (!write_file(output, [&](std::FILE* out) { write_report(out, data); }))
            return fail("cannot write " + output + ": " + std::strerror(errno), 1);
        // The summary goes where the report does not.
        std::fprintf(output == "-" ? stderr : stdout, "vmemu report: %s: %zu events, %zu faults, %zu frames over %.3f s\n",
            output == "-" ? "stdout" : output.c_str(),
            static_cast<std::size_t>(data.lines), data.fault_start_ns.size(), data.frames,
            static_cast<double>(data.end_ns - data.start_ns) / 1e9);
    }
    if (!svg.empty()) {
        if (data.frames == 0)
            return fail(std::string(trace_path) + ": no frame_state events: the trace has no frame map");
        std::uint64_t time = data.end_ns;
        if (at_seconds >= 0) {
            double duration = static_cast<double>(data.end_ns - data.start_ns) / 1e9;
            if (at_seconds > duration)
                return fail(std::string("--at ") + at + " is past the end of the trace (" + std::to_string(duration)
                    + " s)");
            time = data.start_ns + static_cast<std::uint64_t>(at_seconds * 1e9);
        }
        if (!write_file(svg, [&](std::FILE* out) { write_frame_map_svg(out, data, time); }))
            return fail("cannot write " + svg + ": " + std::strerror(errno), 1);
    }
    return 0;
}

} // namespace vmemu::cli
