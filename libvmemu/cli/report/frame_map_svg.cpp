#include <algorithm>
#include <cmath>
#include <vmemu/trace/frame_state.hpp>
#include "frame_map_svg.hpp"

namespace vmemu::cli {

namespace {
// The report page's palette (report_template.html, STATE_COLORS), and one for unknown.
constexpr const char* kColors[trace::kFrameStates + 1] = { "#e2e2e2", "#0072b2", "#56b4e9", "#d55e00", "#e69f00",
    "#cc79a7", "#009e73", "#f0e442", "#222222", "#9a9a9a", "#882255", "#8c6d31", "#ff4fd8" };
} // namespace

void write_frame_map_svg(std::FILE* out, const ReportData& data, std::uint64_t time_ns)
{
    std::vector<std::uint8_t> states = data.frame_map_at(time_ns);
    std::size_t columns = std::clamp<std::size_t>(
        static_cast<std::size_t>(std::ceil(std::sqrt(static_cast<double>(states.size()) * 2))), 16, 256);
    std::size_t rows = (states.size() + columns - 1) / columns;
    int cell = columns <= 64 ? 10 : columns <= 128 ? 6 : 4;
    int map_width = static_cast<int>(columns) * cell;
    int map_height = static_cast<int>(rows) * cell;
    int legend_x = map_width + 24;
    int width = legend_x + 190;
    int height = std::max(map_height, static_cast<int>(trace::kFrameStates + 1) * 18) + 40;
    std::fprintf(out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
        "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
        width, height, width, height);
    std::fprintf(out, "<text x=\"0\" y=\"14\">frame map at %.3f s: %zu frames, pfn 0 top left, %zu per row</text>\n",
        static_cast<double>(time_ns - std::min(time_ns, data.start_ns)) / 1e9, states.size(), columns);
    std::fputs("<g transform=\"translate(0,24)\" shape-rendering=\"crispEdges\">\n", out);
    std::size_t counts[trace::kFrameStates + 1] = {};
    for (std::size_t row = 0; row < rows; ++row) {
        std::size_t first = row * columns;
        std::size_t last = std::min(first + columns, states.size());
        for (std::size_t pfn = first; pfn < last;) {
            std::size_t end = pfn;
            while (end < last && states[end] == states[pfn])
                ++end;
            unsigned state = std::min<unsigned>(states[pfn], trace::kFrameStates);
            counts[state] += end - pfn;
            std::fprintf(out, "<rect x=\"%zu\" y=\"%zu\" width=\"%zu\" height=\"%d\" fill=\"%s\"/>\n",
                (pfn - first) * cell, row * cell, (end - pfn) * cell, cell, kColors[state]);
            pfn = end;
        }
    }
    std::fputs("</g>\n", out);
    for (unsigned state = 0; state <= trace::kFrameStates; ++state) {
        int y = 24 + static_cast<int>(state) * 18;
        if (state == trace::kFrameStates && counts[state] == 0)
            break;
        std::fprintf(out,
            "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\" stroke=\"#888\" stroke-width=\"0.5\"/>"
            "<text x=\"%d\" y=\"%d\">%s %zu</text>\n",
            legend_x, y, kColors[state], legend_x + 18, y + 11,
            state < trace::kFrameStates ? trace::frame_state_name(state) : "unknown", counts[state]);
    }
    std::fputs("</svg>\n", out);
}

} // namespace vmemu::cli
