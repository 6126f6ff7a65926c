// SPDX-License-Identifier: Apache-2.0
#include "scheduler/app.hpp"

#include "rpc/rpc_endpoint.hpp"
#include "scheduler/executor/coarse_grained_executor_backend.hpp"

#include <cstdio>
#include <cstring>
#include <string>

namespace ember {

int run(int argc, char** argv, const std::function<int(int, char**)>& driver_main) {
    if (argc > 1 && std::strcmp(argv[1], "--ember-executor") == 0) return scheduler::run_executor(argc, argv);
    try {
        return driver_main(argc, argv);
    } catch (...) {
        std::string prog = argc > 0 ? argv[0] : "ember";
        if (auto slash = prog.rfind('/'); slash != std::string::npos) prog = prog.substr(slash + 1);
        std::fprintf(stderr, "%s: error: %s\n", prog.c_str(), rpc::describe(std::current_exception()).c_str());
        return 1;
    }
}

}  // namespace ember
