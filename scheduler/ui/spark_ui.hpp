// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// SparkUI: the driver's web UI, REST API and metrics on one HTTP server (Spark's SparkUI and
/// WebUI), and the request routing the History Server shares.
///
/// Routes: `/` redirects to `/jobs/`; the page paths `/jobs/`, `/jobs/job/`, `/stages/`,
/// `/stages/stage/`, `/storage/`, `/storage/rdd/`, `/environment/`, `/executors/` (Spark's) serve
/// the single-page UI, `/static/...` its assets; `/api/v1/...` the REST API (status/api_v1.hpp);
/// `/metrics/prometheus` and `/metrics/executors/prometheus` the Prometheus text
/// (ui/prometheus.hpp). The History Server serves the same pages under `/history/<appId>/`.

#include "rpc/conf.hpp"
#include "scheduler/status/api_v1.hpp"
#include "scheduler/status/app_status_store.hpp"

#include <memory>
#include <optional>
#include <string>

namespace ember::ui {

struct HttpRequest;
struct HttpResponse;

/// Routes one request for the UI over `source`. `history`: the History Server (pages under
/// /history/<appId>/, "/" lists applications, no Prometheus endpoints). `version`: ember's.
/// Threading: thread-safe if `source` is.
HttpResponse route_ui_request(const status::ApplicationSource& source, const HttpRequest& request, bool history,
                              const std::string& version);

/// The live UI of one application. Config: ember.ui.enabled (true), ember.ui.port (4040; taken
/// -> the next of ember.port.maxRetries (16) ports, as Spark; 0 = any), ember.ui.bindAddress
/// (the driver's bind address, else 0.0.0.0), ember.driver.host (the host in the URL).
/// Threading: requests are served on the server's own threads, never the scheduler's.
class SparkUI {
public:
    /// Starts serving `store`. Throws std::runtime_error when no port can be bound.
    SparkUI(const Conf& conf, std::shared_ptr<status::AppStatusStore> store, std::string version);
    ~SparkUI();
    SparkUI(const SparkUI&) = delete;
    SparkUI& operator=(const SparkUI&) = delete;

    /// "http://<host>:<port>" (Spark's SparkContext.uiWebUrl).
    const std::string& web_url() const noexcept { return url_; }
    int port() const;
    /// Stops the server; idempotent.
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::string url_;
};

}  // namespace ember::ui
