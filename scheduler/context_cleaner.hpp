// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ContextCleaner: cleans a persisted RDD or a shuffle once the driver holds no reference to it
/// (Spark's ContextCleaner, for RDDs and shuffles).

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>

namespace ember::scheduler {

/// Spark's ContextCleaner tracks RDDs, shuffles and broadcasts with weak references and cleans
/// each once the JVM has collected it. An RddBase or a ShuffleDependency here is freed
/// deterministically when the last Rdd handle, child RDD or stage holding it goes (the
/// DAGScheduler forgets a job's stages when the job ends), so the driver gives each persisted
/// RDD (track_rdd) and each shuffle dependency (track_shuffle) a token; the token's destruction
/// queues the RDD or shuffle, and the cleaner's thread ("Spark Context Cleaner") runs the
/// matching action for it:
/// - `clean_rdd(id)`: Spark's doCleanupRDD, the driver's unpersistRDD (every BlockManager drops
///   the RDD's cached blocks: RemoveRdd);
/// - `clean_shuffle(id)`: Spark's doCleanupShuffle (the MapOutputTracker forgets the shuffle and
///   every BlockManager deletes its map outputs: RemoveShuffle).
///
/// Broadcast variables are not tracked: a Broadcast<T> is a plain id that lambdas capture as
/// bytes, so nothing tells when the last copy went (Broadcast::destroy removes one).
///
/// Tokens may outlive the cleaner: after stop() (or destruction) they queue nothing, and what is
/// still queued is not cleaned (the application's local directories go at stop).
///
/// Threading: thread-safe; the actions run on the cleaner's thread, one at a time in the order
/// their tokens went, and their exceptions are logged, not thrown.
class ContextCleaner {
public:
    struct Actions {
        std::function<void(int)> clean_rdd;
        std::function<void(int)> clean_shuffle;
    };
    explicit ContextCleaner(Actions actions);
    ~ContextCleaner();
    ContextCleaner(const ContextCleaner&) = delete;
    ContextCleaner& operator=(const ContextCleaner&) = delete;

    /// A token for persisted RDD `rdd_id`: when its last copy is destroyed, the RDD is queued.
    std::shared_ptr<void> track_rdd(int rdd_id);
    /// A token for shuffle `shuffle_id`: when its last copy is destroyed, the shuffle is queued.
    std::shared_ptr<void> track_shuffle(int shuffle_id);
    /// Stops the thread after the clean-up it is running, if any: a blocking RDD removal waits
    /// for the BlockManagers' answers, at most ember.rpc.askTimeout, as Spark's stop() waits for
    /// its cleaning thread's current task. Idempotent.
    void stop();

private:
    enum class Kind { rdd, shuffle };
    struct Task {
        Kind kind;
        int id;
    };
    struct State {
        mutable std::mutex mu;
        std::condition_variable cv;
        std::deque<Task> queue;  // guarded by mu
        bool stopped = false;    // guarded by mu
    };
    std::shared_ptr<void> track(Kind kind, int id);
    void run();
    static std::string_view name(Kind kind) noexcept { return kind == Kind::rdd ? "RDD" : "shuffle"; }

    std::shared_ptr<State> state_;
    Actions actions_;
    std::thread thread_;
};

}  // namespace ember::scheduler
