#include <cctype>
// The differential test's deterministic replay: operation sequences from fixed seeds, each on a
// fresh Differential, compared after every step.
//
//   differential_replay [--seeds N] [--first-seed S] [--ops M]
//
// Prints the operations and bytes compared; at a mismatch, the seed, the step, the operations
// that led to it and the difference, and exits 1.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include "differential.hpp"

int main(int argc, char** argv)
{
    std::uint64_t seeds = 10;
    std::uint64_t first_seed = 1;
    std::uint64_t ops = 10000;
    for (int i = 1; i < argc; ++i) {
        char* end = nullptr;
        std::uint64_t* target = std::strcmp(argv[i], "--seeds") == 0 ? &seeds
            : std::strcmp(argv[i], "--first-seed") == 0               ? &first_seed
            : std::strcmp(argv[i], "--ops") == 0                      ? &ops
                                                                      : nullptr;
        // Digits only: strtoull would take "-1" as a huge count.
        if (!target || i + 1 >= argc || !std::isdigit(static_cast<unsigned char>(argv[i + 1][0]))
            || (*target = std::strtoull(argv[++i], &end, 10), *end != '\0') || *target == 0) {
            std::fprintf(stderr, "usage: differential_replay [--seeds N] [--first-seed S] [--ops M] (each above 0)\n");
            return 2;
        }
    }
    auto started = std::chrono::steady_clock::now();
    std::uint64_t total_ops = 0;
    std::uint64_t total_bytes = 0;
    for (std::uint64_t seed = first_seed; seed < first_seed + seeds; ++seed) {
        vmemu::fuzz::Differential run;
        vmemu::fuzz::SeededSource source(seed);
        for (std::uint64_t op = 0; op < ops; ++op) {
            if (!run.step(source)) {
                std::printf("MISMATCH at seed %llu, step %llu: %s\nthe last operations:\n",
                    static_cast<unsigned long long>(seed), static_cast<unsigned long long>(op + 1), run.mismatch().c_str());
                const auto& log = run.log();
                for (std::size_t i = log.size() > 400 ? log.size() - 400 : 0; i < log.size(); ++i)
                    std::printf("  %s\n", log[i].c_str());
                return 1;
            }
        }
        total_ops += run.steps();
        total_bytes += run.bytes_compared();
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("differential: %llu operations from %llu seeds, %.1f GiB compared, no mismatch, %.1f s\n",
        static_cast<unsigned long long>(total_ops), static_cast<unsigned long long>(seeds),
        static_cast<double>(total_bytes) / (1 << 30), seconds);
    return 0;
}
