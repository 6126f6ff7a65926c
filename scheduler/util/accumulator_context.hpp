// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// The untyped half of accumulators: AccumulatorBase (a state behind a virtual interface),
/// TaskAccumulators (a running task's partial copies) and AccumulatorContext (the driver's
/// merged values, Spark's AccumulatorContext). The typed API users see is accumulator_v2.hpp.

#include "scheduler/util/accumulable_info.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ember::scheduler {

/// An accumulator's state: the driver's merged copy, or one task's partial copy. Implemented
/// by TypedAccumulator<A> (accumulator_v2.hpp) for each state class A.
/// Threading: single-threaded; its owner (a task, or AccumulatorContext's lock) guards it.
class AccumulatorBase {
public:
    virtual ~AccumulatorBase() = default;
    /// Names the state's C++ type within this build (executors run the driver's build).
    virtual const std::string& type_tag() const = 0;
    virtual bool is_zero() const = 0;
    virtual void reset() = 0;
    /// The state in its Serde encoding.
    virtual std::string encode() const = 0;
    /// Decodes a partial state of this type and merges it in; returns the partial value's
    /// display string, or nullopt if the partial state is zero. Throws DecodeError on malformed
    /// bytes (nothing merged), and whatever the state's merge throws.
    virtual std::optional<std::string> merge_encoded(std::string_view bytes) = 0;
    /// The value as Spark shows it (its toString).
    virtual std::string value_string() const = 0;
};

/// The accumulators a task has added to: a zero copy of each is made at its first add() in the
/// task (Spark deserializes a zero copy of every accumulator with the task; making them on
/// demand sends only those the task touched).
/// Threading: confined to the task's thread.
class TaskAccumulators {
public:
    /// The task's copy of accumulator `id`, or nullptr.
    AccumulatorBase* find(std::int64_t id) noexcept {
        for (auto& e : entries_) {
            if (e.id == id) return e.acc.get();
        }
        return nullptr;
    }
    AccumulatorBase& insert(std::int64_t id, std::unique_ptr<AccumulatorBase> acc, bool count_failed_values) {
        entries_.push_back(Entry{id, std::move(acc), count_failed_values});
        return *entries_.back().acc;
    }
    /// The updates the task reports: every copy when it succeeded; when it failed or was killed,
    /// only those of accumulators that count failed values (Spark's
    /// Task.collectAccumulatorUpdates(taskFailed)).
    std::vector<AccumulatorUpdate> collect_updates(bool task_failed) const;
    bool empty() const noexcept { return entries_.empty(); }

private:
    struct Entry {
        std::int64_t id;
        std::unique_ptr<AccumulatorBase> acc;
        bool count_failed_values;
    };
    std::vector<Entry> entries_;  // a task touches a few: a scan beats hashing
};

/// An accumulator's identity on the driver (Spark's AccumulatorMetadata).
/// Threading: immutable.
struct AccumulatorMetadata {
    std::int64_t id = 0;
    std::optional<std::string> name;  ///< unnamed accumulators are not shown to listeners
    /// Updates of failed and killed tasks count too (Spark's internal countFailedValues flag,
    /// which ember exposes): for "how often was this attempted" counters.
    bool count_failed_values = false;
};

/// The driver's accumulators by id (Spark's AccumulatorContext): each one's merged value, which
/// the DAGScheduler updates from the updates of finished tasks. Process-wide, as Spark's: a
/// handle holds only an id and a flag (it is copied into closures that travel as bytes), so
/// the driver finds the value here. Ids are unique in the process; a registered value stays
/// until remove() or the process exits (Spark drops it when the handle is garbage-collected).
/// Threading: thread-safe; each accumulator has its own lock.
class AccumulatorContext {
public:
    /// A fresh id (1, 2, ...).
    static std::int64_t new_id();
    /// Registers `acc` (the driver's copy, usually zero) under `meta.id`.
    static void register_accumulator(AccumulatorMetadata meta, std::unique_ptr<AccumulatorBase> acc);
    static void remove(std::int64_t id);
    static std::optional<AccumulatorMetadata> metadata(std::int64_t id);
    /// Calls `f` with accumulator `id`'s driver copy under its lock; false if not registered.
    static bool with(std::int64_t id, const std::function<void(AccumulatorBase&)>& f);
    /// Merges one finished task's `updates` (called on the scheduler loop). An update for an
    /// unknown id, of another type, with malformed bytes, or (when `task_failed`) of an
    /// accumulator that does not count failed values is dropped with a log line naming
    /// `task` and the reason. Returns, for each merged named accumulator whose update is not
    /// zero, its AccumulableInfo (update: the task's partial value; value: the merged one).
    static std::vector<AccumulableInfo> merge_updates(const std::vector<AccumulatorUpdate>& updates, bool task_failed,
                                                      std::string_view task);
};

}  // namespace ember::scheduler
