// SPDX-License-Identifier: Apache-2.0
#include "scheduler/ui/spark_ui.hpp"

#include "rpc/log.hpp"
#include "scheduler/executor/process_metrics.hpp"
#include "scheduler/ui/http_server.hpp"
#include "scheduler/ui/prometheus.hpp"
#include "scheduler/ui/ui_assets.hpp"

#include <fmt/format.h>

#include <array>
#include <stdexcept>
#include <string_view>

namespace ember::ui {

namespace {

constexpr std::array<std::string_view, 8> kPagePaths{"/jobs/", "/jobs/job/", "/stages/", "/stages/stage/",
                                                     "/storage/", "/storage/rdd/", "/environment/", "/executors/"};

bool is_page(std::string_view path) {
    for (auto p : kPagePaths) {
        if (path == p || (path.size() + 1 == p.size() && p.substr(0, path.size()) == path)) return true;
    }
    return false;
}

HttpResponse text(unsigned status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

HttpResponse redirect(std::string location) {
    HttpResponse r;
    r.status = 302;
    r.headers.emplace_back("Location", std::move(location));
    return r;
}

HttpResponse index_page() {
    HttpResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::string(ui_index_html());
    r.headers.emplace_back("Cache-Control", "no-cache, no-store, must-revalidate");
    return r;
}

HttpResponse no_store(HttpResponse r) {
    r.headers.emplace_back("Cache-Control", "no-cache, no-store, must-revalidate");
    return r;
}

}  // namespace

HttpResponse route_ui_request(const status::ApplicationSource& source, const HttpRequest& req, bool history,
                              const std::string& version) {
    std::string_view path = req.path;
    if (path == "/api/v1" || path.rfind("/api/v1/", 0) == 0) {
        auto a = status::handle_api_v1(source, path.substr(7), req.query, version);
        HttpResponse r;
        r.status = a.status;
        r.content_type = a.content_type;
        r.body = std::move(a.body);
        return no_store(std::move(r));
    }
    if (path.rfind("/static/", 0) == 0) {
        const UiAsset* asset = find_ui_asset(path);
        if (!asset) return text(404, fmt::format("HTTP ERROR 404 Not Found: {}\n", path));
        HttpResponse r;
        r.content_type = std::string(asset->content_type);
        r.body = std::string(asset->body);
        r.headers.emplace_back("Cache-Control", "max-age=3600");
        return r;
    }
    if (!history) {
        if (path == "/" || path.empty()) return redirect("/jobs/");
        if (is_page(path)) return index_page();
        if (path == "/metrics/prometheus" || path == "/metrics/prometheus/") {
            auto apps = source.applications();
            HttpResponse r;
            r.content_type = std::string(kPrometheusContentType);
            if (!apps.empty()) r.body = prometheus_driver_metrics(*apps.front());
            return no_store(std::move(r));
        }
        if (path == "/metrics/executors/prometheus" || path == "/metrics/executors/prometheus/") {
            auto apps = source.applications();
            HttpResponse r;
            r.content_type = std::string(kPrometheusContentType);
            if (!apps.empty()) r.body = prometheus_executor_metrics(*apps.front(), version);
            return no_store(std::move(r));
        }
    } else {
        if (path == "/" || path.empty() || path == "/history" || path == "/history/") return index_page();
        // /history/<appId>[/<page>]
        if (path.rfind("/history/", 0) == 0) {
            auto rest = path.substr(9);
            auto slash = rest.find('/');
            std::string app_id(rest.substr(0, slash));
            if (!source.application(app_id)) {
                return text(404, fmt::format("Application {} not found.\n", app_id));
            }
            if (slash == std::string_view::npos || rest.substr(slash) == "/") {
                return redirect(fmt::format("/history/{}/jobs/", app_id));
            }
            if (is_page(rest.substr(slash))) return index_page();
        }
    }
    return text(404, fmt::format("HTTP ERROR 404 Not Found: {}\n", path));
}

struct SparkUI::Impl {
    std::shared_ptr<status::AppStatusStore> store;
    status::SingleApplicationSource source;
    std::string version;
    std::unique_ptr<HttpServer> server;

    Impl(std::shared_ptr<status::AppStatusStore> s, std::string v)
        : store(std::move(s)), source(store), version(std::move(v)) {}
};

SparkUI::SparkUI(const Conf& conf, std::shared_ptr<status::AppStatusStore> store, std::string version)
    : impl_(std::make_unique<Impl>(std::move(store), std::move(version))) {
    HttpServerOptions opt;
    opt.bind_address = conf.get("ember.ui.bindAddress", conf.get("ember.driver.bindAddress", "0.0.0.0"));
    opt.port = static_cast<int>(conf.get_int("ember.ui.port", 4040));
    opt.max_port_retries = static_cast<int>(conf.get_int("ember.port.maxRetries", 16));
    if (opt.port < 0 || opt.port > 65535) {
        throw std::invalid_argument(fmt::format("ember.ui.port must be a port number, got {}", opt.port));
    }
    auto* impl = impl_.get();
    impl_->server = std::make_unique<HttpServer>(opt, [impl](const HttpRequest& req) {
        // The driver has no heartbeat: its process metrics are sampled when someone looks.
        if (req.path.find("executors") != std::string::npos || req.path.rfind("/metrics/", 0) == 0) {
            impl->store->update_driver_metrics(scheduler::sample_process_metrics());
        }
        return route_ui_request(impl->source, req, false, impl->version);
    });
    std::string host = conf.get("ember.driver.host", "");
    if (host.empty()) host = opt.bind_address == "0.0.0.0" ? "127.0.0.1" : opt.bind_address;
    url_ = fmt::format("http://{}:{}", host, impl_->server->port());
    log::get("scheduler")->info("Bound SparkUI to {}, and started at {}", opt.bind_address, url_);
}

SparkUI::~SparkUI() { stop(); }

int SparkUI::port() const { return impl_->server ? impl_->server->port() : -1; }

void SparkUI::stop() {
    if (impl_->server) impl_->server->stop();
}

}  // namespace ember::ui
