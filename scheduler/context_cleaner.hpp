// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ContextCleaner: cleans a shuffle once the driver holds no reference to it (Spark's
/// ContextCleaner, for shuffles).

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace ember::scheduler {

/// Spark's ContextCleaner tracks RDDs, shuffles and broadcasts with weak references and cleans
/// each once the JVM has collected it. A ShuffleDependency here is freed deterministically when
/// the last Rdd handle, child RDD or stage holding it goes (the DAGScheduler forgets a job's
/// stages when the job ends), so the driver gives each of its dependencies a token from
/// track_shuffle(); the token's destruction queues the shuffle, and the cleaner's thread
/// ("Spark Context Cleaner") runs `clean_shuffle(id)` for it: the driver unregisters it from the
/// MapOutputTracker and has every BlockManager delete its map outputs (RemoveShuffle).
///
/// Tokens may outlive the cleaner: after stop() (or destruction) they queue nothing, and
/// shuffles still queued are not cleaned (the application's local directories go at stop).
///
/// Threading: thread-safe; `clean_shuffle` runs on the cleaner's thread, one shuffle at a time,
/// and its exceptions are logged, not thrown.
class ContextCleaner {
public:
    explicit ContextCleaner(std::function<void(int)> clean_shuffle);
    ~ContextCleaner();
    ContextCleaner(const ContextCleaner&) = delete;
    ContextCleaner& operator=(const ContextCleaner&) = delete;

    /// A token for shuffle `shuffle_id`: when its last copy is destroyed, the shuffle is queued.
    std::shared_ptr<void> track_shuffle(int shuffle_id);
    /// Stops the thread after the shuffle it is cleaning, if any. Idempotent.
    void stop();

private:
    struct State {
        mutable std::mutex mu;
        std::condition_variable cv;
        std::deque<int> queue;  // guarded by mu
        bool stopped = false;   // guarded by mu
    };
    void run();

    std::shared_ptr<State> state_;
    std::function<void(int)> clean_shuffle_;
    std::thread thread_;
};

}  // namespace ember::scheduler
