// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ember::run: the main of an ember application, which is both the driver and its executors.

#include <functional>

namespace ember {

/// Call from main(): `return ember::run(argc, argv, [](int argc, char** argv) { ... });`
///
/// One executable is the driver and, started again by the master with `--ember-executor` as its
/// first argument, each executor; run() recognises that flag before any user code runs and then
/// runs the executor instead of `driver_main`. So executors have all the application's code and
/// nothing needs registering. An exception escaping `driver_main` is printed as one line
/// ("<program>: error: <what>") and gives exit code 1.
int run(int argc, char** argv, const std::function<int(int, char**)>& driver_main);

}  // namespace ember
