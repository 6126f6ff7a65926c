// SPDX-License-Identifier: Apache-2.0
// ember-history-server: serves the web UI and REST API of the applications whose event logs are
// in a directory, completed and in progress (Spark's HistoryServer).
//
//   ember-history-server --dir /tmp/ember-events [--port 18080] [--host 0.0.0.0]
#include "rpc/conf.hpp"
#include "rpc/log.hpp"
#include "scheduler/status/fs_history_provider.hpp"
#include "scheduler/ui/http_server.hpp"
#include "scheduler/ui/spark_ui.hpp"
#include "scheduler/version.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>

int main(int argc, char** argv) {
    CLI::App cli{"ember-history-server: the web UI and REST API (/api/v1) of the applications whose event logs "
                 "are in a directory"};
    std::string dir = "/tmp/ember-events";
    int port = 18080;
    std::string host = "0.0.0.0";
    std::string interval = "10s";
    cli.add_option("--dir", dir, "event log directory (ember.eventLog.dir of the applications)")->capture_default_str();
    cli.add_option("--port", port, "HTTP port (ember.history.ui.port)")->capture_default_str();
    cli.add_option("--host", host, "address to bind")->capture_default_str();
    cli.add_option("--update-interval", interval, "how often the directory is rescanned (ember.history.fs.update.interval)")
        ->capture_default_str();
    CLI11_PARSE(cli, argc, argv);

    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
        std::fprintf(stderr, "ember-history-server: error: %s is not a directory\n", dir.c_str());
        return 1;
    }
    // SIGINT / SIGTERM end the server: wait for them with sigwait on this thread.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    try {
        auto provider = std::make_shared<ember::status::FsHistoryProvider>(dir, ember::Conf::parse_time_ms(interval));
        provider->refresh();
        ember::ui::HttpServerOptions opt;
        opt.bind_address = host;
        opt.port = port;
        opt.max_port_retries = 0;  // a history server's port is configured, not searched
        const std::string version(ember::kVersion);
        ember::ui::HttpServer server(opt, [provider, version](const ember::ui::HttpRequest& req) {
            return ember::ui::route_ui_request(*provider, req, true, version);
        });
        std::printf("ember-history-server: serving %s at http://%s:%d\n", dir.c_str(),
                    host == "0.0.0.0" ? "127.0.0.1" : host.c_str(), server.port());
        std::fflush(stdout);
        int sig = 0;
        sigwait(&stop_signals, &sig);
        server.stop();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ember-history-server: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
