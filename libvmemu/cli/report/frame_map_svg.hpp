#pragma once
// The frame map at one moment as an SVG picture, for documents: one cell per frame, in rows of
// a fixed width, each row's runs of one state drawn as one rectangle, with a legend of the
// states and their counts, in the report page's colours.
#include <cstdint>
#include <cstdio>
#include "report_data.hpp"

namespace vmemu::cli {

void write_frame_map_svg(std::FILE* out, const ReportData& data, std::uint64_t time_ns);

} // namespace vmemu::cli
