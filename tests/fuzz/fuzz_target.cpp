// The differential test as a libFuzzer target: each input is an operation sequence, run on a
// fresh Differential; a mismatch prints what happened and aborts, which libFuzzer records.
//   cmake -DVMEMU_FUZZ=ON with clang; differential_fuzz tests/fuzz/corpus
#include <cstdio>
#include <cstdlib>
#include "differential.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    vmemu::fuzz::Differential run;
    vmemu::fuzz::ByteSource source(data, size);
    while (!source.spent()) {
        if (!run.step(source)) {
            std::fprintf(stderr, "MISMATCH at step %llu: %s\n", static_cast<unsigned long long>(run.steps()),
                run.mismatch().c_str());
            for (const std::string& line : run.log())
                std::fprintf(stderr, "  %s\n", line.c_str());
            std::abort();
        }
    }
    return 0;
}
