// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* replay_main - runs a fuzz target over files, without libFuzzer
 *
 * SYNOPSIS
 *   fuzz_TARGET FILE|DIR...
 *
 * DESCRIPTION
 *   Builds without TALLY_FUZZ (GCC, the sanitizer build) link the fuzz
 *   targets with this main instead of libFuzzer's: every file named, and
 *   every regular file in every folder named, is fed once to
 *   LLVMFuzzerTestOneInput. ctest runs it over fuzz/corpus/TARGET, so the
 *   seed corpus and the crash inputs kept there are a regression suite of
 *   every build.
 *
 * DIAGNOSTICS
 *   Exit 0 after at least one input; 2 when nothing could be read (a
 *   missing corpus must not pass as an empty one). A violated property
 *   aborts with the file name printed first.
 */
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size);

int main(int argc, char **argv) {
    namespace fs = std::filesystem;
    std::vector<fs::path> files;
    for (int i = 1; i < argc; ++i) {
        std::error_code ec;
        if (fs::is_directory(argv[i], ec)) {
            for (const auto &e : fs::directory_iterator(argv[i], ec))
                if (e.is_regular_file()) files.push_back(e.path());
        } else if (fs::is_regular_file(argv[i], ec)) {
            files.emplace_back(argv[i]);
        } else {
            std::fprintf(stderr, "replay: %s: not a file or folder\n", argv[i]);
            return 2;
        }
    }
    std::sort(files.begin(), files.end());
    std::size_t done = 0;
    for (const auto &f : files) {
        std::ifstream in(f, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "replay: cannot read %s\n", f.c_str());
            return 2;
        }
        std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::fprintf(stderr, "replay: %s (%zu bytes)\n", f.c_str(), data.size());
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t *>(data.data()), data.size());
        ++done;
    }
    if (done == 0) {
        std::fprintf(stderr, "replay: no input\n");
        return 2;
    }
    std::printf("replay: %zu inputs, no failure\n", done);
    return 0;
}
