// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Shared by the fuzz targets of the monitoring code (fuzz_event_log, fuzz_api_v1) and by
/// fuzz_seeds: a small fixed application as listener events, and the check every /api/v1
/// answer must pass.

#include "scheduler/listener.hpp"
#include "scheduler/status/api_v1.hpp"
#include "scheduler/status/app_status_store.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ember::fuzz {

/// The id of the application seed_app_events() describes.
inline constexpr std::string_view kSeedAppId = "app-20240501120000-0000";

/// A small finished application, in the order the listener bus posts it: application start,
/// environment, the driver's and two executors' BlockManagers; job 0 (stages 0 -> 1, stage 0
/// caching RDD 2) with succeeded, failed (exception, fetch failure, lost executor), killed,
/// speculative and resubmitted tasks, a task result fetched indirectly, block updates and
/// executor metrics, and stage 1 failing once and retried; job 1 (stage 0 skipped, stage 2
/// failing) that fails; an unpersisted RDD; a task still running when executor 1 is removed
/// and the application ends.
std::vector<scheduler::SparkListenerEvent> seed_app_events();

/// An ApplicationSource that answers every app id with `store` (the History Server answers a
/// log's own id; here the path never has to spell a hostile id).
class AnyIdSource final : public status::ApplicationSource {
public:
    explicit AnyIdSource(std::shared_ptr<const status::AppStatusStore> store)
        : store_(std::move(store)) {}
    std::vector<std::shared_ptr<const status::AppStatusStore>> applications() const override {
        return {store_};
    }
    std::shared_ptr<const status::AppStatusStore> application(const std::string&) const override {
        return store_;
    }

private:
    std::shared_ptr<const status::AppStatusStore> store_;
};

/// Aborts (printing `path` and the answer) unless `r` is well formed: 200 with
/// "application/json" and a body boost::json::parse accepts (which includes valid UTF-8), or a
/// 4xx with a "text/plain" content type and a non-empty body. A 5xx is handle_api_v1's "internal
/// error": an exception escaped a handler, which is a finding too.
void check_api_response(const status::ApiResponse& r, std::string_view path);

}  // namespace ember::fuzz
