// SPDX-License-Identifier: Apache-2.0
#include "scheduler/listener.hpp"

#include "rpc/log.hpp"
#include "rpc/rpc_endpoint.hpp"

#include <chrono>

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
#undef EMBER_LISTENER_EVENT

}  // namespace ember::scheduler
