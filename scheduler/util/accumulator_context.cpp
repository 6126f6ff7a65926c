// SPDX-License-Identifier: Apache-2.0
#include "scheduler/util/accumulator_context.hpp"

#include "rpc/log.hpp"
#include "scheduler/registry.hpp"

#include <atomic>
#include <exception>
#include <map>
#include <mutex>

namespace ember::scheduler {
namespace {

struct Entry {
    AccumulatorMetadata meta;
    std::mutex mu;
    std::unique_ptr<AccumulatorBase> acc;  // guarded by mu
};

struct Registry {
    std::atomic<std::int64_t> next_id{1};
    std::mutex mu;
    std::map<std::int64_t, std::shared_ptr<Entry>> entries;  // guarded by mu
};

Registry& registry() {
    static Registry* r = new Registry();  // never destroyed: handles may be used during exit
    return *r;
}

/// Whether to log the n-th dropped update (counting from 1): the first 100, then every 10000th,
/// so an executor sending garbage cannot fill the driver's log.
bool log_drop() {
    static std::atomic<std::uint64_t> dropped{0};
    std::uint64_t n = dropped.fetch_add(1) + 1;
    return n <= 100 || n % 10000 == 0;
}

std::shared_ptr<Entry> find(std::int64_t id) {
    auto& r = registry();
    std::lock_guard lk(r.mu);
    auto it = r.entries.find(id);
    return it == r.entries.end() ? nullptr : it->second;
}

}  // namespace

std::vector<AccumulatorUpdate> TaskAccumulators::collect_updates(bool task_failed) const {
    std::vector<AccumulatorUpdate> out;
    out.reserve(entries_.size());
    for (const auto& e : entries_) {
        if (task_failed && !e.count_failed_values) continue;
        out.push_back(AccumulatorUpdate{e.id, e.acc->type_tag(), e.acc->encode()});
    }
    return out;
}

std::int64_t AccumulatorContext::new_id() { return registry().next_id.fetch_add(1); }

void AccumulatorContext::register_accumulator(AccumulatorMetadata meta, std::unique_ptr<AccumulatorBase> acc) {
    auto e = std::make_shared<Entry>();
    e->meta = std::move(meta);
    e->acc = std::move(acc);
    auto& r = registry();
    std::lock_guard lk(r.mu);
    r.entries[e->meta.id] = std::move(e);
}

void AccumulatorContext::remove(std::int64_t id) {
    auto& r = registry();
    std::lock_guard lk(r.mu);
    r.entries.erase(id);
}

std::optional<AccumulatorMetadata> AccumulatorContext::metadata(std::int64_t id) {
    auto e = find(id);
    if (!e) return std::nullopt;
    return e->meta;
}

bool AccumulatorContext::with(std::int64_t id, const std::function<void(AccumulatorBase&)>& f) {
    auto e = find(id);
    if (!e) return false;
    std::lock_guard lk(e->mu);
    f(*e->acc);
    return true;
}

std::vector<AccumulableInfo> AccumulatorContext::merge_updates(const std::vector<AccumulatorUpdate>& updates,
                                                               bool task_failed, std::string_view task) {
    std::vector<AccumulableInfo> infos;
    auto log = log::get("scheduler");
    for (const auto& u : updates) {
        auto e = find(u.id);
        if (!e) {
            if (log_drop()) {
                log->warn("Dropping an update of accumulator {} from {}: no such accumulator is registered", u.id,
                          task);
            }
            continue;
        }
        if (task_failed && !e->meta.count_failed_values) {
            if (log_drop()) {
                log->warn("Dropping an update of accumulator {} from failed {}: it does not count failed values",
                          u.id, task);
            }
            continue;
        }
        std::lock_guard lk(e->mu);
        if (u.type != e->acc->type_tag()) {
            if (log_drop()) {
                log->warn("Dropping an update of accumulator {} from {}: its type is {}, not the accumulator's {}",
                          u.id, task, demangle(u.type.substr(0, 200)), demangle(e->acc->type_tag()));
            }
            continue;
        }
        std::optional<std::string> update;
        try {
            update = e->acc->merge_encoded(u.value);
        } catch (const std::exception& ex) {
            if (log_drop()) {
                log->error("Failed to update accumulator {} ({}) for {}: {}", u.id, demangle(e->acc->type_tag()), task,
                           ex.what());
            }
            continue;
        } catch (...) {
            if (log_drop()) {
                log->error("Failed to update accumulator {} ({}) for {}: a non-standard exception", u.id,
                           demangle(e->acc->type_tag()), task);
            }
            continue;
        }
        // Spark: named accumulators only, and no UI cruft for zero updates.
        if (!e->meta.name || !update) continue;
        infos.push_back(AccumulableInfo{u.id, e->meta.name, std::move(update), e->acc->value_string(), false,
                                        e->meta.count_failed_values});
    }
    return infos;
}

}  // namespace ember::scheduler
