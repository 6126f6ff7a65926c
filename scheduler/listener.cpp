// SPDX-License-Identifier: Apache-2.0
#include "scheduler/listener.hpp"

#include "rpc/log.hpp"
#include "rpc/rpc_endpoint.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <thread>
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

namespace {
template <class Event, class Fn>
void deliver_to(const std::vector<std::shared_ptr<SparkListener>>& ls, const Event& e, Fn fn) {
    for (auto& l : ls) {
        try {
            fn(*l, e);
        } catch (...) {
            log::get("scheduler")->error("Listener threw; ignoring: {}", rpc::describe(std::current_exception()));
        }
    }
}

/// Events the queue thread is woken for at once, rather than at its next 10 ms drain (see
/// ListenerBus): only the application's end, after which nothing else comes.
bool is_urgent(const SparkListenerEvent& e) {
    return std::holds_alternative<SparkListenerApplicationEnd>(e);
}
}  // namespace

/// The asynchronous listeners' queue and thread (Spark's AsyncEventQueue).
class ListenerBus::Queue {
public:
    explicit Queue(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)), listeners_(std::make_shared<Listeners>()) {
        thread_ = std::thread([this] { run(); });
    }
    ~Queue() { stop(); }

    void add(std::shared_ptr<SparkListener> l) {
        std::lock_guard lk(mu_);
        auto next = std::make_shared<Listeners>(*listeners_);
        next->push_back(std::move(l));
        listeners_ = std::move(next);
    }

    void push(SparkListenerEvent e) {
        const bool urgent = is_urgent(e);
        std::unique_lock lk(mu_);
        if (stopping_) return;
        if (pending_.size() >= capacity_) {
            wake_.notify_one();
            room_.wait(lk, [&] { return pending_.size() < capacity_ || stopping_; });
            if (stopping_) return;
        }
        pending_.push_back(std::move(e));
        ++posted_;
        bool wake = sleeping_ && (urgent || pending_.size() >= 512);
        lk.unlock();
        if (wake) wake_.notify_one();
    }

    void wait_until_empty() {
        std::unique_lock lk(mu_);
        wake_.notify_one();
        room_.wait(lk, [&] { return processed_ == posted_ || !running_; });
    }

    void stop() {
        {
            std::lock_guard lk(mu_);
            if (stopping_) return;
            stopping_ = true;
        }
        wake_.notify_one();
        room_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

private:
    void run() {
        std::vector<SparkListenerEvent> batch;
        std::unique_lock lk(mu_);
        for (;;) {
            if (pending_.empty()) {
                room_.notify_all();  // drained: wake wait_until_empty()
                if (stopping_) break;
                sleeping_ = true;
                wake_.wait_for(lk, std::chrono::milliseconds(10));
                sleeping_ = false;
                continue;
            }
            batch.swap(pending_);
            auto ls = listeners_;
            room_.notify_all();
            lk.unlock();
            for (auto& e : batch) {
                for (auto& l : *ls) {
                    try {
                        dispatch(*l, e);
                    } catch (...) {
                        log::get("scheduler")->error("Listener threw; ignoring: {}",
                                                     rpc::describe(std::current_exception()));
                    }
                }
            }
            const auto n = batch.size();
            batch.clear();
            lk.lock();
            processed_ += n;
        }
        running_ = false;
        room_.notify_all();
    }

    const std::size_t capacity_;
    std::mutex mu_;
    std::condition_variable wake_;  // the queue thread waits here
    std::condition_variable room_;  // posters (full queue) and wait_until_empty() wait here
    std::vector<SparkListenerEvent> pending_;  // guarded by mu_
    std::shared_ptr<const Listeners> listeners_;  // guarded by mu_; copied on add
    std::uint64_t posted_ = 0, processed_ = 0;     // guarded by mu_
    bool sleeping_ = false, stopping_ = false, running_ = true;  // guarded by mu_
    std::thread thread_;
};

ListenerBus::ListenerBus(std::size_t queue_capacity)
    : queue_capacity_(queue_capacity), listeners_(std::make_shared<Listeners>()) {}

ListenerBus::~ListenerBus() { stop(); }

void ListenerBus::add(std::shared_ptr<SparkListener> l) {
    std::lock_guard lk(mu_);
    auto next = std::make_shared<Listeners>(*listeners_);
    next->push_back(std::move(l));
    listeners_ = std::move(next);
}

void ListenerBus::add_async(std::shared_ptr<SparkListener> l) {
    std::lock_guard lk(mu_);
    if (!queue_) {
        queue_ = std::make_unique<Queue>(queue_capacity_);
        queue_ptr_.store(queue_.get(), std::memory_order_release);
    }
    queue_->add(std::move(l));
}

void ListenerBus::wait_until_empty() {
    if (auto* q = queue_ptr_.load(std::memory_order_acquire)) q->wait_until_empty();
}

void ListenerBus::stop() {
    std::lock_guard lk(mu_);
    if (queue_) queue_->stop();
}

std::shared_ptr<const ListenerBus::Listeners> ListenerBus::snapshot() {
    std::lock_guard lk(mu_);
    return listeners_;
}

template <class Event>
void ListenerBus::deliver(Event&& e) {
    if (auto* q = queue_ptr_.load(std::memory_order_acquire)) q->push(SparkListenerEvent(std::forward<Event>(e)));
}

#define EMBER_LISTENER_EVENT(Event, method)                                                        \
    void ListenerBus::post(Event e) {                                                              \
        deliver_to(*snapshot(), e, [](SparkListener& l, const Event& ev) { l.method(ev); });        \
        deliver(std::move(e));                                                                     \
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
EMBER_LISTENER_EVENT(SparkListenerExecutorExcluded, on_executor_excluded)
EMBER_LISTENER_EVENT(SparkListenerExecutorUnexcluded, on_executor_unexcluded)
EMBER_LISTENER_EVENT(SparkListenerNodeExcluded, on_node_excluded)
EMBER_LISTENER_EVENT(SparkListenerNodeUnexcluded, on_node_unexcluded)
EMBER_LISTENER_EVENT(SparkListenerExecutorExcludedForStage, on_executor_excluded_for_stage)
EMBER_LISTENER_EVENT(SparkListenerNodeExcludedForStage, on_node_excluded_for_stage)
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
            else if constexpr (std::is_same_v<E, SparkListenerExecutorMetricsUpdate>) l.on_executor_metrics_update(ev);
            else if constexpr (std::is_same_v<E, SparkListenerExecutorExcluded>) l.on_executor_excluded(ev);
            else if constexpr (std::is_same_v<E, SparkListenerExecutorUnexcluded>) l.on_executor_unexcluded(ev);
            else if constexpr (std::is_same_v<E, SparkListenerNodeExcluded>) l.on_node_excluded(ev);
            else if constexpr (std::is_same_v<E, SparkListenerNodeUnexcluded>) l.on_node_unexcluded(ev);
            else if constexpr (std::is_same_v<E, SparkListenerExecutorExcludedForStage>) l.on_executor_excluded_for_stage(ev);
            else l.on_node_excluded_for_stage(ev);
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
