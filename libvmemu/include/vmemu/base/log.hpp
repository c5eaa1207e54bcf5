#pragma once
// vmemu's log: an spdlog logger named "vmemu", at the level the environment variable
// VMEMU_LOG names (trace, debug, info, warn, error, off; warn by default). Never called from
// the fault path: spdlog allocates and takes locks.
#include <spdlog/logger.h>

namespace vmemu {

spdlog::logger& log();

} // namespace vmemu
