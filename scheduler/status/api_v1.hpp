// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Spark's monitoring REST API, `/api/v1` (Spark's status/api/v1: ApiRootResource and the
/// resources under it), answered from AppStatusStores with Spark's paths, query parameters and
/// JSON field names: pretty-printed, absent optionals omitted, dates as
/// `yyyy-MM-dd'T'HH:mm:ss.SSS'GMT'`.
///
/// Paths (under /api/v1): /version; /applications[?status=completed|running&minDate=&maxDate=&
/// minEndDate=&maxEndDate=&limit=]; /applications/{appId}; .../jobs[?status=...];
/// .../jobs/{jobId}; .../stages[?status=active|complete|pending|failed|skipped&details=&
/// withSummaries=&quantiles=&taskStatus=]; .../stages/{stageId}; .../stages/{stageId}/{attemptId};
/// .../stages/{s}/{a}/taskSummary[?quantiles=]; .../stages/{s}/{a}/taskList[?offset=&length=&
/// sortBy=ID|-ID|DURATION|-DURATION&status=]; .../executors; .../allexecutors; .../storage/rdd;
/// .../storage/rdd/{rddId}; .../environment. ember adds .../jobs/{jobId}/stageGraph (each
/// stage of the job with its parentIds, for the job page's DAG).
///
/// Errors as Spark: 404 "no such app: <id>", "unknown job: <id>", "unknown stage: <id>", ...;
/// 400 naming a bad parameter. Bodies of errors are text/plain.

#include "scheduler/status/app_status_store.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ember::status {

/// An answer: status code, content type, body.
struct ApiResponse {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body;
};

/// The applications an API serves: the live driver has one, the History Server many.
/// Threading: called from HTTP threads concurrently; implementations must be thread-safe.
class ApplicationSource {
public:
    virtual ~ApplicationSource() = default;
    /// Every application, newest first.
    virtual std::vector<std::shared_ptr<const AppStatusStore>> applications() const = 0;
    /// The application `app_id`, or nullptr.
    virtual std::shared_ptr<const AppStatusStore> application(const std::string& app_id) const = 0;
};

/// The live driver's one application.
class SingleApplicationSource final : public ApplicationSource {
public:
    explicit SingleApplicationSource(std::shared_ptr<const AppStatusStore> store) : store_(std::move(store)) {}
    std::vector<std::shared_ptr<const AppStatusStore>> applications() const override { return {store_}; }
    std::shared_ptr<const AppStatusStore> application(const std::string& app_id) const override;

private:
    std::shared_ptr<const AppStatusStore> store_;
};

using QueryParams = std::vector<std::pair<std::string, std::string>>;

/// Answers GET `/api/v1` + `path` (decoded, e.g. "/applications/app-1/jobs"; "" or "/" is the
/// root) with `query` (decoded pairs). `version` is reported by /version and in
/// ApplicationAttemptInfo.appSparkVersion. Never throws: bad input is a 4xx answer.
ApiResponse handle_api_v1(const ApplicationSource& source, std::string_view path, const QueryParams& query,
                          std::string_view version);

/// Spark's REST date: "2024-05-01T12:00:00.123GMT" for `epoch_ms`.
std::string format_api_date(std::int64_t epoch_ms);

}  // namespace ember::status
