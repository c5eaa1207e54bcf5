#include <charconv>
#include "trace_reader.hpp"

namespace vmemu::cli {

namespace {

bool parse_number(std::string_view text, std::uint64_t& value)
{
    int base = 10;
    if (text.starts_with("0x")) {
        text.remove_prefix(2);
        base = 16;
    }
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

std::string_view trim_left(std::string_view text)
{
    while (!text.empty() && text.front() == ' ')
        text.remove_prefix(1);
    return text;
}

// "            comm-1234    [001] ..... 12345.678901: name: fields"
const char* parse_event_line(std::string_view line, TraceEvent& event)
{
    std::size_t cpu = line.find(" [");
    while (cpu != std::string_view::npos
        && !(cpu + 6 < line.size() && line[cpu + 5] == ']' && line[cpu + 6] == ' '))
        cpu = line.find(" [", cpu + 1);
    if (cpu == std::string_view::npos)
        return "no [cpu] field";
    std::string_view task = trim_left(line.substr(0, cpu));
    while (!task.empty() && task.back() == ' ')
        task.remove_suffix(1);
    std::size_t dash = task.rfind('-');
    std::uint64_t tid = 0;
    if (dash == std::string_view::npos || !parse_number(task.substr(dash + 1), tid))
        return "no comm-pid";
    event.comm = task.substr(0, dash);
    event.tid = static_cast<std::uint32_t>(tid);
    std::string_view rest = line.substr(cpu + 7);
    if (rest.size() < 6 || rest[5] != ' ')
        return "no flags";
    rest = trim_left(rest.substr(6));
    std::size_t colon = rest.find(": ");
    std::size_t dot = rest.find('.');
    std::uint64_t seconds = 0;
    std::uint64_t micros = 0;
    if (colon == std::string_view::npos || dot > colon || colon - dot != 7 || !parse_number(rest.substr(0, dot), seconds)
        || !parse_number(rest.substr(dot + 1, 6), micros))
        return "no timestamp";
    event.timestamp_ns = seconds * 1000000000u + micros * 1000u;
    rest = rest.substr(colon + 2);
    std::size_t name_end = rest.find(": ");
    if (name_end == std::string_view::npos) {
        if (!rest.ends_with(':'))
            return "no event name";
        name_end = rest.size() - 1;
    }
    event.name = rest.substr(0, name_end);
    event.fields = name_end + 2 <= rest.size() ? rest.substr(name_end + 2) : std::string_view();
    return nullptr;
}

// "# minor_fault: 1234 in all, average 5678 nsecs", then "#   256 -> 511   : 12   |***  |".
void parse_histogram_line(std::string_view line, std::vector<TraceHistogram>& histograms)
{
    line = trim_left(line.substr(1));
    if (std::size_t in_all = line.find(" in all, average "); in_all != std::string_view::npos) {
        std::size_t colon = line.find(':');
        if (colon != std::string_view::npos && colon < in_all)
            histograms.push_back(TraceHistogram { std::string(line.substr(0, colon)), {} });
        return;
    }
    std::size_t arrow = line.find(" -> ");
    std::size_t colon = line.find(" : ");
    if (histograms.empty() || arrow == std::string_view::npos || colon == std::string_view::npos || colon < arrow)
        return;
    std::uint64_t low = 0;
    std::string_view count_text = trim_left(line.substr(colon + 3));
    count_text = count_text.substr(0, count_text.find(' '));
    count_text = count_text.substr(0, count_text.find('|'));
    std::uint64_t count = 0;
    if (!parse_number(line.substr(0, arrow), low) || !parse_number(count_text, count))
        return;
    unsigned bucket = low < 2 ? 0 : 63 - static_cast<unsigned>(__builtin_clzll(low));
    histograms.back().buckets[bucket] = count;
}

} // namespace

void TraceProblems::add(std::size_t line, const std::string& what)
{
    if (first.size() < kKept)
        first.push_back("line " + std::to_string(line) + ": " + what);
    ++count;
}

TraceReadResult read_ftrace(std::string_view text, const std::function<void(const TraceEvent&)>& on_event)
{
    TraceReadResult result;
    bool in_histograms = false;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        bool whole = end != std::string_view::npos;
        std::string_view line = text.substr(start, whole ? end - start : std::string_view::npos);
        start = whole ? end + 1 : text.size();
        std::size_t number = ++result.lines;
        if (!whole) {
            result.problems.add(number, "the trace ends mid-line, after " + std::to_string(line.size()) + " bytes");
            break;
        }
        if (line.starts_with("#")) {
            if (line == "# latency histograms")
                in_histograms = true;
            else if (number == 1 && line != "# tracer: nop")
                result.problems.add(number, "not an ftrace text trace (it does not start with '# tracer:')");
            else if (in_histograms)
                parse_histogram_line(line, result.histograms);
            continue;
        }
        if (line.empty())
            continue;
        TraceEvent event;
        if (const char* problem = parse_event_line(line, event)) {
            result.problems.add(number, std::string("not an event line (") + problem + ")");
            continue;
        }
        event.line = number;
        ++result.events;
        on_event(event);
    }
    if (result.lines == 0)
        result.problems.add(0, "the trace is empty");
    return result;
}

std::string_view field_word(std::string_view fields, std::string_view key)
{
    for (std::size_t at = 0; at < fields.size();) {
        std::size_t end = fields.find(' ', at);
        std::string_view field = fields.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
        if (field.size() > key.size() && field.starts_with(key) && field[key.size()] == '=')
            return field.substr(key.size() + 1);
        if (end == std::string_view::npos)
            break;
        at = end + 1;
    }
    return {};
}

bool field_value(std::string_view fields, std::string_view key, std::uint64_t& value)
{
    std::string_view word = field_word(fields, key);
    return !word.empty() && parse_number(word, value);
}

} // namespace vmemu::cli
