// SPDX-License-Identifier: Apache-2.0
#include "scheduler/task_end_reason.hpp"

#include "shuffle/map_status.hpp"

#include <fmt/format.h>

namespace ember::scheduler {

std::string to_error_string(const TaskEndReason& r) {
    struct V {
        std::string operator()(const Success&) const { return "Success"; }
        std::string operator()(const Resubmitted&) const {
            return "Resubmitted (resubmitted due to lost executor)";
        }
        std::string operator()(const FetchFailed& f) const {
            return fmt::format("FetchFailed({}, shuffleId={}, mapIndex={}, mapId={}, reduceId={}, message=\n{}\n)",
                               f.address.executor_id.empty() ? "null" : f.address.to_string(), f.shuffle_id,
                               f.map_index, f.map_id, f.reduce_id, f.message);
        }
        std::string operator()(const ExceptionFailure& e) const {
            std::string s = e.class_name + ": " + e.description;
            if (!e.stack_trace.empty()) s += "\n" + e.stack_trace;
            return s;
        }
        std::string operator()(const TaskResultLost&) const { return "TaskResultLost (result lost from block manager)"; }
        std::string operator()(const TaskKilled& k) const { return "TaskKilled (" + k.reason + ")"; }
        std::string operator()(const ExecutorLostFailure& e) const {
            return fmt::format("ExecutorLostFailure (executor {} exited {}) Reason: {}", e.executor_id,
                               e.exit_caused_by_app ? "caused by one of the running tasks" : "unrelated to the running tasks",
                               e.reason);
        }
    };
    return std::visit(V{}, r);
}

bool counts_towards_task_failures(const TaskEndReason& r) {
    if (std::holds_alternative<FetchFailed>(r) || std::holds_alternative<TaskKilled>(r) ||
        std::holds_alternative<Success>(r) || std::holds_alternative<Resubmitted>(r)) {
        return false;
    }
    if (auto* e = std::get_if<ExecutorLostFailure>(&r)) return e->exit_caused_by_app;
    return true;
}

void to_wire(wire::TaskFailedReason::Builder b, const TaskEndReason& r) {
    if (auto* f = std::get_if<FetchFailed>(&r)) {
        auto g = b.initFetchFailed();
        shuffle::to_wire(g.initBmAddress(), f->address);
        g.setShuffleId(f->shuffle_id);
        g.setMapId(f->map_id);
        g.setMapIndex(f->map_index);
        g.setReduceId(f->reduce_id);
        g.setMessage(f->message);
    } else if (std::holds_alternative<TaskResultLost>(r)) {
        b.setTaskResultLost();
    } else if (auto* k = std::get_if<TaskKilled>(&r)) {
        b.initTaskKilled().setReason(k->reason);
    } else if (auto* e = std::get_if<ExceptionFailure>(&r)) {
        auto g = b.initExceptionFailure();
        g.setClassName(e->class_name);
        g.setDescription(e->description);
        g.setStackTrace(e->stack_trace);
    } else {
        auto g = b.initExceptionFailure();
        g.setClassName("ember.UnknownReason");
        g.setDescription(to_error_string(r));
    }
}

TaskEndReason from_wire(wire::TaskFailedReason::Reader r) {
    switch (r.which()) {
        case wire::TaskFailedReason::FETCH_FAILED: {
            auto g = r.getFetchFailed();
            return FetchFailed{shuffle::from_wire(g.getBmAddress()), g.getShuffleId(), g.getMapId(), g.getMapIndex(),
                               g.getReduceId(), g.getMessage()};
        }
        case wire::TaskFailedReason::TASK_KILLED:
            return TaskKilled{r.getTaskKilled().getReason()};
        case wire::TaskFailedReason::TASK_RESULT_LOST:
            return TaskResultLost{};
        case wire::TaskFailedReason::EXCEPTION_FAILURE:
        default: {
            auto g = r.getExceptionFailure();
            return ExceptionFailure{g.getClassName(), g.getDescription(), g.getStackTrace()};
        }
    }
}

wire::TaskState to_wire(TaskState s) {
    switch (s) {
        case TaskState::launching: return wire::TaskState::LAUNCHING;
        case TaskState::running: return wire::TaskState::RUNNING;
        case TaskState::finished: return wire::TaskState::FINISHED;
        case TaskState::failed: return wire::TaskState::FAILED;
        case TaskState::killed: return wire::TaskState::KILLED;
        case TaskState::lost: return wire::TaskState::LOST;
    }
    return wire::TaskState::LOST;
}

TaskState from_wire(wire::TaskState s) {
    switch (s) {
        case wire::TaskState::LAUNCHING: return TaskState::launching;
        case wire::TaskState::RUNNING: return TaskState::running;
        case wire::TaskState::FINISHED: return TaskState::finished;
        case wire::TaskState::FAILED: return TaskState::failed;
        case wire::TaskState::KILLED: return TaskState::killed;
        case wire::TaskState::LOST: return TaskState::lost;
    }
    return TaskState::lost;
}

}  // namespace ember::scheduler
