#pragma once

namespace vmemu::cli {

// `vmemu run [--frames SIZE] [--swap PATH] [--swap-size SIZE] [--backend auto|uffd|signal]
//            [--stats FILE] [--trace FILE] -- PROGRAM [ARGS...]`
// Runs PROGRAM with the LD_PRELOAD shim and the settings in VMEMU_* variables. Returns the
// program's exit status, 128+N when it died by signal N, and 2 (with a one-line error, and
// no program started) for bad input.
int run_command(int argc, char** argv);

} // namespace vmemu::cli
