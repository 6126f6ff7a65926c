// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ember::sim::Simulation: many RpcEnvs in one process, on one thread, over a simulated network
/// and a virtual clock, every fault drawn from one seed (FoundationDB's deterministic
/// simulation). The same seed gives the same run, message for message.

#include "rpc/rpc_env.hpp"
#include "rpc/sim/prng.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ember::sim {

/// Random faults, drawn from the seed: every so often (exponentially distributed, mean
/// `mean_interval`) either a kill of a random env created with SimEnvOptions::faulty, restarted
/// after restart_delay, a partition between two random hosts, healed after partition_duration,
/// or a clog between two random hosts for clog_duration. Off while mean_interval is 0.
struct ChaosConfig {
    std::chrono::milliseconds mean_interval{0};
    double kill_weight = 1.0;       ///< relative odds of a kill
    double partition_weight = 1.0;  ///< relative odds of a partition
    double clog_weight = 0.0;       ///< relative odds of a clog
    std::chrono::milliseconds restart_delay_min{100}, restart_delay_max{2000};
    std::chrono::milliseconds partition_duration_min{100}, partition_duration_max{5000};
    std::chrono::milliseconds clog_duration_min{100}, clog_duration_max{5000};
};

/// The simulated network. Latencies are one-way, per frame and per connect step, uniform in
/// [latency_min, latency_max], plus latency_slow with probability slow_probability. Frames of one
/// connection arrive in the order sent (TCP); frames of different connections are reordered by
/// their latencies.
struct SimConfig {
    std::uint64_t seed = 1;
    std::chrono::microseconds latency_min{50};
    std::chrono::microseconds latency_max{1000};
    double slow_probability = 0.0;
    std::chrono::microseconds latency_slow{50'000};
    /// Per frame: the frame is lost and its connection breaks (TCP never loses one frame and
    /// delivers the next): both ends see on_disconnected, its asks fail with connection_closed.
    double drop_probability = 0.0;
    /// Per connect: refused as if nobody listened.
    double connect_failure_probability = 0.0;
    ChaosConfig chaos;
};

/// Per-env options.
struct SimEnvOptions {
    /// Chaos may kill (and later restart) this env.
    bool faulty = false;
};

/// A whole cluster of RpcEnvs run by the calling thread in virtual time.
///
/// Each env is a process on a named host: `create_env(config, host, boot)` makes it (server
/// mode listens at host:config.port, 7077 and up when 0; client mode does not listen) and runs
/// `boot` to set up its endpoints, again after every restart. Endpoints are ordinary
/// RpcEndpoints and run unchanged: send, ask (timeouts fire on virtual time), on_connected and
/// on_disconnected when peers connect, die or are cut off. Nothing happens between calls:
/// step(), run_for() and run_until() advance virtual time, deliver frames and fire timers. Code
/// outside the simulation (the test) may send and ask through refs between those calls; ask
/// callbacks given there run inside the simulation.
///
/// Blocking calls (ask_sync, setup_endpoint_ref_by_uri, and the scheduler's waits) made on the
/// simulation's thread outside every env's handlers (test code between calls, a schedule()
/// step, a simulated task) run the simulation until what they wait for happens: the caller's
/// stack waits while virtual time goes on, deterministically (wait_until()). Inside an
/// endpoint's handler they fail at once, as a handler that waits for its own loop would hang
/// (use ask and async_setup_endpoint_ref_by_uri there). EndpointOptions::dedicated_thread is
/// ignored.
///
/// Faults: partition(a, b) cuts every connection between the two hosts (both sides see
/// on_disconnected) and makes connects between them time out (the connect timeout:
/// ember.rpc.io.connectionCreationTimeout, then ember.rpc.io.connectionTimeout, then
/// ember.network.timeout) until heal(a, b); clog(a, b, d) holds every frame between them for
/// `d` (a stalled network: nothing is lost and connections stay up, but asks may time out);
/// kill(name) stops a process dead: its connections reset, its endpoints get no further
/// callback (not even on_stop, until the Simulation is destroyed), frames to it are lost;
/// restart(name) starts a new incarnation at the same address and runs its boot again.
///
/// The trace records every connect, accept, send, delivery, loss, drop, close, timer, kill,
/// restart, partition, heal, clog and note with its virtual time in microseconds; runs with
/// equal seeds (and equal user code) have equal traces.
///
/// Threading: not thread-safe; one thread creates and runs a Simulation and everything in it.
class Simulation {
public:
    using Boot = std::function<void(rpc::RpcEnv&)>;

    explicit Simulation(SimConfig config = {});
    /// Shuts every env down (killed ones too: their on_stop runs now).
    ~Simulation();
    Simulation(const Simulation&) = delete;
    Simulation& operator=(const Simulation&) = delete;

    /// Creates env `config.name` (unique in the simulation) on `host` and runs `boot` on it.
    /// Returns the env it made, which a fault may have killed during its boot (env(name) is then
    /// null until a restart). Throws std::invalid_argument for a duplicate name, an empty host,
    /// or a listening address already taken.
    rpc::RpcEnv& create_env(rpc::RpcEnvConfig config, std::string host, Boot boot = {}, SimEnvOptions options = {});
    /// A server-mode env named `name` on `host` with default configuration.
    rpc::RpcEnv& create_env(std::string name, std::string host, Boot boot = {}, SimEnvOptions options = {});
    /// The live incarnation of env `name`, or nullptr while it is killed (or if there is none).
    rpc::RpcEnv* env(std::string_view name);
    /// Keeps `object` (what a boot made for its env's endpoints: stores, services) until the
    /// simulation is destroyed, after every env, killed incarnations included, has stopped.
    void keep_alive(std::shared_ptr<void> object);

    // -- faults ------------------------------------------------------------------------------
    /// Kills env `name` now. No-op if it is already dead.
    void kill(std::string_view name);
    /// Env `name`'s process exits now (a clean exit, where kill() is a crash): as with kill()
    /// nothing of it runs again and its work's waits end, but what it already sent still
    /// arrives and its peers then see its connections close (FIN, not a reset). No-op if it is
    /// dead. May be called from the env's own handler.
    void exit(std::string_view name);
    /// Starts a new incarnation of a killed env `name` and runs its boot. Throws
    /// std::logic_error if it is alive.
    void restart(std::string_view name);
    void partition(std::string_view host_a, std::string_view host_b);
    void heal(std::string_view host_a, std::string_view host_b);
    bool partitioned(std::string_view host_a, std::string_view host_b) const;
    /// Frames between the two hosts sent before now + `duration` arrive no earlier than that
    /// (each connection keeps its order).
    void clog(std::string_view host_a, std::string_view host_b, std::chrono::microseconds duration);

    // -- time --------------------------------------------------------------------------------
    /// Virtual time since the simulation began.
    std::chrono::microseconds now() const;
    /// Runs `fn` outside every env after `delay` of virtual time (scenario steps, faults).
    void schedule(std::chrono::microseconds delay, std::function<void()> fn);
    /// Runs `fn` after `delay` as work of `env`'s process (a simulated executor's task): not at
    /// all if the env's incarnation has been killed by then, and the blocking waits inside it
    /// (wait_until) return false as soon as it is killed, so a killed process's stack unwinds.
    /// Throws std::invalid_argument if `env` is not an env of this simulation.
    void schedule_in(const rpc::RpcEnv& env, std::chrono::microseconds delay, std::function<void()> fn);
    /// Runs the next event; false if there is none.
    bool step();
    /// Runs every event due within `duration`, then sets the clock to its end.
    void run_for(std::chrono::microseconds duration);
    /// Runs events until `done()` holds (true) or `limit` of virtual time has passed or nothing
    /// is left to run (false).
    bool run_until(const std::function<bool()>& done, std::chrono::microseconds limit);

    // -- blocking code on the simulation's thread ---------------------------------------------
    /// The simulation created last on the calling thread and still alive, or nullptr. Blocking
    /// calls use it to wait in virtual time.
    static Simulation* current() noexcept;
    /// False while an env's handler runs (the simulation is delivering to an endpoint, firing
    /// its timer, completing its ask): a wait there could not run the loop it waits for.
    bool can_block() const noexcept;
    /// A blocking wait on the simulation's thread: runs events (nested inside the caller's
    /// event, if any) until `ready()` holds (true) or `limit` of virtual time has passed or
    /// nothing is left to run or the process the caller works for (schedule_in(), an env's
    /// boot) has been killed (false). Throws std::logic_error if !can_block().
    bool wait_until(const std::function<bool()>& ready, std::chrono::microseconds limit);
    /// True while the caller works for a process (schedule_in(), a boot) that has been killed.
    bool current_process_killed() const noexcept;

    // -- observing ---------------------------------------------------------------------------
    std::uint64_t seed() const noexcept;
    /// The generator faults are drawn from; scenarios may draw from it too (same seed, same run).
    Prng& random() noexcept;
    /// Adds a line to the trace.
    void note(std::string text);
    /// One line per event: "<virtual us> <what>".
    const std::vector<std::string>& trace() const noexcept;
    /// The trace as one text, a line each.
    std::string trace_text() const;
    /// Events run so far.
    std::uint64_t events() const noexcept;

    class Impl;

private:
    std::unique_ptr<Impl> impl_;
};

/// A seed whose run failed, with what went wrong and the run's whole trace.
struct SeedFailure {
    std::uint64_t seed = 0;
    std::string what;
    std::string trace;
};

/// Runs `scenario` on a fresh Simulation for each seed in [first_seed, first_seed + seeds), with
/// `config` but for its seed. The scenario fails by returning a non-empty description (or by
/// throwing a std::exception: "exception: <what()>"). Returns the failures in seed order; a
/// failure replays exactly by running its seed again with the same config.
std::vector<SeedFailure> sweep(SimConfig config, std::uint64_t first_seed, std::uint64_t seeds,
                               const std::function<std::string(Simulation&)>& scenario);

}  // namespace ember::sim
