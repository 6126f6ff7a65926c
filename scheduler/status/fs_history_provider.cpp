// SPDX-License-Identifier: Apache-2.0
#include "scheduler/status/fs_history_provider.hpp"

#include "rpc/log.hpp"
#include "scheduler/status/replay.hpp"

#include <algorithm>
#include <limits>

namespace ember::status {

FsHistoryProvider::FsHistoryProvider(std::string dir, std::chrono::milliseconds update_interval)
    : dir_(std::move(dir)), update_interval_(update_interval) {}

void FsHistoryProvider::refresh() const {
    std::lock_guard lk(mu_);
    refresh_locked();
}

void FsHistoryProvider::refresh_locked() const {
    last_scan_ = std::chrono::steady_clock::now();
    scanned_ = true;
    std::vector<scheduler::EventLogInfo> logs;
    try {
        logs = scheduler::list_event_logs(dir_);
    } catch (const std::exception& e) {
        log::get("history")->error("Cannot list event logs in {}: {}", dir_, e.what());
        return;
    }
    std::map<std::string, Entry> next;
    for (auto& info : logs) {
        auto old = entries_.find(info.path);
        if (old != entries_.end() && old->second.size == info.size && old->second.mtime_ms == info.mtime_ms) {
            next.emplace(info.path, std::move(old->second));
            continue;
        }
        Entry e;
        e.path = info.path;
        e.size = info.size;
        e.mtime_ms = info.mtime_ms;
        // The History Server keeps everything of an application it shows.
        StoreLimits unlimited;
        unlimited.retained_jobs = unlimited.retained_stages = std::numeric_limits<std::size_t>::max() / 2;
        auto store = std::make_shared<AppStatusStore>(unlimited);
        try {
            auto r = scheduler::replay_event_log(info.path, *store->listener(), info.in_progress);
            if (r.truncated) log::get("history")->info("{}: ignored a truncated last line", info.path);
            e.app_id = store->read([](const AppState& st) { return st.app.id; });
            e.start_time = store->read([](const AppState& st) { return st.app.start_time; });
            if (e.app_id.empty()) e.app_id = info.app_id;
            e.store = std::move(store);
        } catch (const std::exception& ex) {
            log::get("history")->error("Cannot replay {}: {}", info.path, ex.what());
        }
        next.emplace(info.path, std::move(e));
    }
    entries_ = std::move(next);
}

std::vector<std::shared_ptr<const AppStatusStore>> FsHistoryProvider::applications() const {
    std::lock_guard lk(mu_);
    if (!scanned_ || std::chrono::steady_clock::now() - last_scan_ >= update_interval_) refresh_locked();
    std::vector<const Entry*> ok;
    for (auto& [p, e] : entries_) {
        if (e.store) ok.push_back(&e);
    }
    std::sort(ok.begin(), ok.end(), [](auto* a, auto* b) { return a->start_time > b->start_time; });
    std::vector<std::shared_ptr<const AppStatusStore>> out;
    for (auto* e : ok) out.push_back(e->store);
    return out;
}

std::shared_ptr<const AppStatusStore> FsHistoryProvider::application(const std::string& app_id) const {
    std::lock_guard lk(mu_);
    if (!scanned_ || std::chrono::steady_clock::now() - last_scan_ >= update_interval_) refresh_locked();
    for (auto& [p, e] : entries_) {
        if (e.store && e.app_id == app_id) return e.store;
    }
    return nullptr;
}

}  // namespace ember::status
