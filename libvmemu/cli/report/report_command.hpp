#pragma once

namespace vmemu::cli {

// `vmemu report TRACE [-o REPORT.html] [--svg FRAME_MAP.svg [--at SECONDS]]`: the HTML report
// of a trace that `vmemu run --trace` wrote, and the frame map at one moment as SVG.
int report_command(int argc, char** argv);

} // namespace vmemu::cli
