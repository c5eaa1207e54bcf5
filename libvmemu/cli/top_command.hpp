#pragma once

namespace vmemu::cli {

// `vmemu top [-d SECONDS] [-n COUNT]`: the running vmemu processes, found through the stats
// segments they publish (stats_segment.hpp), with their memory and their vmstat rates per
// second, every SECONDS (1), COUNT times (until interrupted), in the spirit of `vmstat 1`.
int top_command(int argc, char** argv);

} // namespace vmemu::cli
