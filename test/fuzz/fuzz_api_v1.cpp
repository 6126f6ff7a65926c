// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: requests to /api/v1 (handle_api_v1) against the live driver's source
// (SingleApplicationSource) over a store holding a small fixed application
// (status_fuzz_support.hpp: seed_app_events: jobs, stage attempts, succeeded, failed, killed,
// speculative and running tasks, executors alive and removed, cached RDDs, the environment).
// Anyone who can reach the UI port sends these paths and query parameters.
//
// Every answer must be well formed (check_api_response): a 200 whose body is JSON, or a 4xx
// with a message; a 500 (an exception escaping a handler) or a crash is a finding.
//
// Input: the first line is the path under /api/v1 (decoded, as the HTTP server passes it); each
// further line is a query parameter "key=value" (a line without '=' is a key with an empty
// value).
#include "scheduler/status/api_v1.hpp"
#include "test/fuzz/status_fuzz_support.hpp"

#include <string>
#include <string_view>

using namespace ember;

namespace {

std::shared_ptr<const status::AppStatusStore> make_store() {
    auto store = std::make_shared<status::AppStatusStore>();
    auto listener = store->listener();
    for (const auto& e : fuzz::seed_app_events())
        scheduler::dispatch(*listener, e);
    return store;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const status::SingleApplicationSource source(make_store());
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto line = [&in] {
        auto nl = in.find('\n');
        std::string_view l = in.substr(0, nl);
        in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
        return l;
    };
    std::string_view path = line();
    status::QueryParams query;
    while (!in.empty()) {
        std::string_view l = line();
        auto eq = l.find('=');
        if (eq == std::string_view::npos)
            query.emplace_back(std::string(l), std::string());
        else
            query.emplace_back(std::string(l.substr(0, eq)), std::string(l.substr(eq + 1)));
    }
    fuzz::check_api_response(status::handle_api_v1(source, path, query, "0.1.0"), path);
    return 0;
}
