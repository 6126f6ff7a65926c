// SPDX-License-Identifier: Apache-2.0
// Catch2 main for tests that start executor processes: the test binary is the driver, and, run
// again with --ember-executor, each executor (ember::run dispatches before Catch2 sees argv).
#define CATCH_CONFIG_RUNNER
#include "scheduler/app.hpp"

#include <catch2/catch.hpp>

int main(int argc, char** argv) {
    return ember::run(argc, argv, [](int c, char** v) { return Catch::Session().run(c, v); });
}
