// The vmemu command.
#include <cstdio>
#include <cstring>
#include "report/report_command.hpp"
#include "run_command.hpp"
#include "top_command.hpp"

namespace {
void usage(std::FILE* out)
{
    std::fputs("usage: vmemu run [--frames SIZE] [--swap PATH] [--swap-size SIZE] [--backend auto|uffd|signal] [--syscall-guard on|off]\n"
               "                 [--stats FILE] [--trace FILE[.json]] [--trace-events LIST] -- PROGRAM [ARGS...]\n"
               "       vmemu report TRACE [-o REPORT.html] [--svg FRAME_MAP.svg [--at SECONDS]]\n"
               "       vmemu top [-d SECONDS] [-n COUNT]\n",
        out);
}
} // namespace

int main(int argc, char** argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (std::strcmp(argv[1], "run") == 0)
        return vmemu::cli::run_command(argc - 2, argv + 2);
    if (std::strcmp(argv[1], "report") == 0)
        return vmemu::cli::report_command(argc - 2, argv + 2);
    if (std::strcmp(argv[1], "top") == 0)
        return vmemu::cli::top_command(argc - 2, argv + 2);
    if (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    std::fprintf(stderr, "vmemu: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
