// SPDX-License-Identifier: Apache-2.0
#include "scheduler/listener.hpp"

#include "rpc/log.hpp"
#include "rpc/rpc_endpoint.hpp"

#include <algorithm>
#include <chrono>
#include <type_traits>

namespace ember::scheduler {

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

const char* to_string(TaskLocality l) noexcept {
    switch (l) {
        case TaskLocality::process_local: return "PROCESS_LOCAL";
        case TaskLocality::node_local: return "NODE_LOCAL";
        case TaskLocality::no_pref: return "NO_PREF";
        case TaskLocality::rack_local: return "RACK_LOCAL";
        case TaskLocality::any: return "ANY";
    }
    return "ANY";
}

void ListenerBus::add(std::shared_ptr<SparkListener> l) {
    std::lock_guard lk(mu_);
    listeners_.push_back(std::move(l));
}

std::vector<std::shared_ptr<SparkListener>> ListenerBus::snapshot() {
    std::lock_guard lk(mu_);
    return listeners_;
}

namespace {
template <class Event, class Fn>
void deliver(const std::vector<std::shared_ptr<SparkListener>>& ls, const Event& e, Fn fn) {
    for (auto& l : ls) {
        try {
            fn(*l, e);
        } catch (...) {
            log::get("scheduler")->error("Listener threw; ignoring: {}", rpc::describe(std::current_exception()));
        }
    }
}
}  // namespace

#define EMBER_LISTENER_EVENT(Event, method)                                                     \
    void ListenerBus::post(const Event& e) {                                                    \
        deliver(snapshot(), e, [](SparkListener& l, const Event& ev) { l.method(ev); });         \
    }
EMBER_LISTENER_EVENT(SparkListenerJobStart, on_job_start)
EMBER_LISTENER_EVENT(SparkListenerJobEnd, on_job_end)
EMBER_LISTENER_EVENT(SparkListenerStageSubmitted, on_stage_submitted)
EMBER_LISTENER_EVENT(SparkListenerStageCompleted, on_stage_completed)
EMBER_LISTENER_EVENT(SparkListenerTaskStart, on_task_start)
EMBER_LISTENER_EVENT(SparkListenerTaskGettingResult, on_task_getting_result)
EMBER_LISTENER_EVENT(SparkListenerTaskEnd, on_task_end)
EMBER_LISTENER_EVENT(SparkListenerExecutorAdded, on_executor_added)
EMBER_LISTENER_EVENT(SparkListenerExecutorRemoved, on_executor_removed)
EMBER_LISTENER_EVENT(SparkListenerApplicationStart, on_application_start)
EMBER_LISTENER_EVENT(SparkListenerApplicationEnd, on_application_end)
EMBER_LISTENER_EVENT(SparkListenerSpeculativeTaskSubmitted, on_speculative_task_submitted)
EMBER_LISTENER_EVENT(SparkListenerEnvironmentUpdate, on_environment_update)
EMBER_LISTENER_EVENT(SparkListenerBlockManagerAdded, on_block_manager_added)
EMBER_LISTENER_EVENT(SparkListenerBlockManagerRemoved, on_block_manager_removed)
EMBER_LISTENER_EVENT(SparkListenerUnpersistRDD, on_unpersist_rdd)
EMBER_LISTENER_EVENT(SparkListenerBlockUpdated, on_block_updated)
EMBER_LISTENER_EVENT(SparkListenerExecutorMetricsUpdate, on_executor_metrics_update)
#undef EMBER_LISTENER_EVENT

void ListenerBus::post(const SparkListenerEvent& e) {
    std::visit([this](const auto& ev) { post(ev); }, e);
}

void dispatch(SparkListener& l, const SparkListenerEvent& e) {
    std::visit(
        [&l](const auto& ev) {
            using E = std::decay_t<decltype(ev)>;
            if constexpr (std::is_same_v<E, SparkListenerJobStart>) l.on_job_start(ev);
            else if constexpr (std::is_same_v<E, SparkListenerJobEnd>) l.on_job_end(ev);
            else if constexpr (std::is_same_v<E, SparkListenerStageSubmitted>) l.on_stage_submitted(ev);
            else if constexpr (std::is_same_v<E, SparkListenerStageCompleted>) l.on_stage_completed(ev);
            else if constexpr (std::is_same_v<E, SparkListenerTaskStart>) l.on_task_start(ev);
            else if constexpr (std::is_same_v<E, SparkListenerTaskGettingResult>) l.on_task_getting_result(ev);
            else if constexpr (std::is_same_v<E, SparkListenerTaskEnd>) l.on_task_end(ev);
            else if constexpr (std::is_same_v<E, SparkListenerExecutorAdded>) l.on_executor_added(ev);
            else if constexpr (std::is_same_v<E, SparkListenerExecutorRemoved>) l.on_executor_removed(ev);
            else if constexpr (std::is_same_v<E, SparkListenerApplicationStart>) l.on_application_start(ev);
            else if constexpr (std::is_same_v<E, SparkListenerApplicationEnd>) l.on_application_end(ev);
            else if constexpr (std::is_same_v<E, SparkListenerSpeculativeTaskSubmitted>) l.on_speculative_task_submitted(ev);
            else if constexpr (std::is_same_v<E, SparkListenerEnvironmentUpdate>) l.on_environment_update(ev);
            else if constexpr (std::is_same_v<E, SparkListenerBlockManagerAdded>) l.on_block_manager_added(ev);
            else if constexpr (std::is_same_v<E, SparkListenerBlockManagerRemoved>) l.on_block_manager_removed(ev);
            else if constexpr (std::is_same_v<E, SparkListenerUnpersistRDD>) l.on_unpersist_rdd(ev);
            else if constexpr (std::is_same_v<E, SparkListenerBlockUpdated>) l.on_block_updated(ev);
            else l.on_executor_metrics_update(ev);
        },
        e);
}

void ExecutorMetrics::update_peaks(const ExecutorMetrics& o) noexcept {
    process_rss_bytes = std::max(process_rss_bytes, o.process_rss_bytes);
    process_vmem_bytes = std::max(process_vmem_bytes, o.process_vmem_bytes);
    storage_memory_bytes = std::max(storage_memory_bytes, o.storage_memory_bytes);
    execution_memory_bytes = std::max(execution_memory_bytes, o.execution_memory_bytes);
    cpu_time_ns = std::max(cpu_time_ns, o.cpu_time_ns);
}

}  // namespace ember::scheduler
