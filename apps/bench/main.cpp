// SPDX-License-Identifier: Apache-2.0
// ember-bench: ember against a baseline measured in the same run; one JSON line per figure:
//   {"name": ..., "ember": value, "baseline": value, "ratio": ember/baseline, "unit": ...}
// The raw TCP baselines run twice, blocking and spinning as ember's I/O threads do
// (ember.rpc.io.spinTime; apps/bench/raw_tcp.hpp): a line for each ("NAME-raw-blocking",
// "NAME-raw-spinning"), and the figure's baseline is the better of the two ("baseline_is").
//
//   ember-bench wordcount [--master M] [--partitions P] [--repeats R] INPUT...
//       word count of the files on local-cluster[2,1,1024] vs hand-written 1- and 2-thread C++ programs.
//   ember-bench wordcount-corpus [--corpus linux|boost] [--subset DIR] [--every N] [--repeats R] [--master M] [INPUT...]
//       the same over the Linux 6.1 tree (unpacked once), or every N-th file of it.
//   ember-bench wordcount-scaling [--every 16,4,1] [--executors 1,2,4] [--repeats R]
//       wordcount-corpus at several sizes, then on 1, 2, 4 executors.
//   ember-bench rpc-latency [--cpu N] [--rounds R] [--conf K=V]...
//       ask round trip p50/p99 (64-byte payload, one outstanding) vs raw TCP ping-pong.
//   ember-bench rpc-throughput [--cpu N] [--messages M] [--conf K=V]...
//       asks/s with 64 in flight vs raw TCP doing the same (64 echoed requests in flight) and
//       one-way sends/s vs raw TCP streams (one send() per message, and packed writes).
//   ember-bench tasks [--master M] [--tasks N] [--cpu N]
//       no-op tasks/s through driver, executors and back vs the raw pipelined TCP message rate.
//   ember-bench monitoring [--master M] [--tasks N] [--repeats R] [--cpu N]
//       no-op tasks/s with the web UI, status store and event log on vs the same job with them off.
//   ember-bench task-latency [--master M] [--jobs J] [--cpu N]
//       submit-to-result p50/p99 of one-task jobs vs raw TCP ping-pong.
//   ember-bench shuffle [--master M] [--size 4g] [--layouts 4x4,64x4,...] [--ops sort,reduce_by_key]
//       sort_by_key / reduce_by_key of generated records vs GNU sort, with executors' peak memory.
//   ember-bench pagerank [--master M] [--iterations N] [--partitions P] [--repeats R] [PACKAGES...]
//       Spark's PageRank over the Debian package graph vs a single-threaded CSR loop.
#include "apps/bench/bench_support.hpp"
#include "apps/bench/pagerank_bench.hpp"
#include "apps/bench/raw_tcp.hpp"
#include "apps/bench/rpc_bench.hpp"
#include "apps/bench/shuffle_bench.hpp"
#include "apps/bench/task_bench.hpp"
#include "apps/bench/wordcount_bench.hpp"
#include "scheduler/ember.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <string>
#include <string_view>
#include <vector>

namespace {

/// The options of every word count subcommand: --master and --repeats, and for those that count
/// a corpus --corpus and --cache-dir.
void add_wordcount_options(CLI::App* sub, bench::WordCountBenchOptions& o, bool corpus) {
    sub->add_option("--master", o.master)->capture_default_str();
    sub->add_option("--repeats", o.repeats)->capture_default_str()->check(CLI::PositiveNumber);
    if (!corpus) return;
    sub->add_option("--corpus", o.corpus, "linux (Debian's linux-source-6.1, unpacked once) or boost")
        ->capture_default_str();
    sub->add_option("--cache-dir", o.cache_dir, "where the Linux tree is unpacked (default ~/.cache/ember-bench)");
}

}  // namespace

int main(int argc, char** argv) {
    return ember::run(argc, argv, [](int argc, char** argv) {
        // Internal: the benchmark servers started by the benchmarks themselves.
        if (argc >= 2 && std::string_view(argv[1]) == "__raw-server") return bench::run_raw_server();
        // Its --conf=K=V arguments are in ember::submitted_conf() (ember::run took them).
        if (argc >= 2 && std::string_view(argv[1]) == "__rpc-server") return bench::run_rpc_server(ember::submitted_conf());
        CLI::App cli{"ember benchmarks: each prints JSON lines with a baseline measured in the same run."};
        cli.require_subcommand(1);
        bench::WordCountBenchOptions wco;
        wco.name = "wordcount";
        auto* wc = cli.add_subcommand("wordcount", "word count of the given files vs hand-written 1- and 2-thread "
                                                   "C++ programs, alternating, medians");
        add_wordcount_options(wc, wco, false);
        wc->add_option("--partitions", wco.partitions)->check(CLI::PositiveNumber);
        wc->add_option("INPUT", wco.inputs)->required();

        bench::WordCountBenchOptions wcc;
        auto* wcorp = cli.add_subcommand("wordcount-corpus", "word count of a source tree vs hand-written 1- and "
                                                             "2-thread C++ programs, alternating, medians");
        add_wordcount_options(wcorp, wcc, true);
        wcorp->add_option("--partitions", wcc.partitions)->check(CLI::PositiveNumber);
        wcorp->add_option("--subset", wcc.subset, "a directory inside the corpus, e.g. drivers/net");
        wcorp->add_flag("--ember-only", wcc.ember_only, "skip the baselines (for profiling)");
        wcorp->add_option("--sides", wcc.sides, "which of ember, 1thread, 2threads run (for profiling)")
            ->delimiter(',')
            ->capture_default_str();
        wcorp->add_option("--every", wcc.every, "count every N-th file of the corpus only (16: 1/16 of it)")
            ->check(CLI::PositiveNumber);
        wcorp->add_option("INPUT", wcc.inputs, "files or directories instead of a corpus");

        bench::WordCountBenchOptions wcs;
        wcs.repeats = 1;
        std::vector<int> scaling_every{16, 4, 1};
        std::vector<int> scaling_executors{1, 2, 4};
        auto* wscale = cli.add_subcommand("wordcount-scaling", "how word count's cost grows with input size and "
                                                               "with executors, against the same baselines");
        add_wordcount_options(wscale, wcs, true);  // --master: that of the size series
        wscale->add_option("--every", scaling_every, "the sizes: every N-th file of the corpus")
            ->delimiter(',')
            ->capture_default_str()
            ->check(CLI::PositiveNumber);
        wscale->add_option("--executors", scaling_executors, "one-core executors of the executor series (middle size)")
            ->delimiter(',')
            ->capture_default_str()
            ->check(CLI::PositiveNumber);

        bench::RpcBenchOptions rpc;
        auto* lat = cli.add_subcommand("rpc-latency", "ask round trip vs raw TCP ping-pong, between two processes");
        lat->add_option("--cpu", rpc.cpu, "pin both processes to this CPU");
        lat->add_option("--rounds", rpc.latency_rounds)->capture_default_str();
        lat->add_option("--server-port", rpc.server_port, "use an ember-bench __rpc-server already running (profiling)");
        auto* thr = cli.add_subcommand("rpc-throughput",
                                       "asks (64 in flight) and sends per second vs raw TCP doing the same "
                                       "(a window of echoed requests; streams)");
        thr->add_option("--cpu", rpc.cpu, "pin both processes to this CPU");
        thr->add_option("--messages", rpc.throughput_messages)->capture_default_str();
        thr->add_option("--server-port", rpc.server_port, "use an ember-bench __rpc-server already running (profiling)");

        std::string bulk = "256m";
        int repeats = 7;
        auto* sec = cli.add_subcommand("security", "ask latency, ask throughput and bulk fetch with authentication, "
                                                   "and with encryption, vs the same with security off");
        sec->add_option("--cpu", rpc.cpu, "pin both processes to this CPU");
        sec->add_option("--bulk", bulk, "bytes of the bulk fetch, e.g. 256m")->capture_default_str();
        sec->add_option("--repeats", repeats, "interleaved passes (medians are printed)")->capture_default_str();
        std::vector<std::string> sec_parts{"latency", "asks", "bulk"};
        sec->add_option("--parts", sec_parts, "latency, asks, bulk")->delimiter(',')->capture_default_str();

        bench::TaskBenchOptions tb;
        auto* tasks = cli.add_subcommand("tasks", "no-op tasks per second through the scheduler vs a raw TCP stream");
        tasks->add_option("--master", tb.master)->capture_default_str();
        tasks->add_option("--tasks", tb.tasks)->capture_default_str()->check(CLI::PositiveNumber);
        tasks->add_option("--cpu", tb.cpu, "pin the driver, its executors and the baseline to this CPU");
        int monitoring_repeats = 3;
        auto* mon = cli.add_subcommand("monitoring", "no-op tasks per second with the UI, status store and event log "
                                                     "on vs off, alternating");
        mon->add_option("--master", tb.master)->capture_default_str();
        mon->add_option("--tasks", tb.tasks)->capture_default_str()->check(CLI::PositiveNumber);
        mon->add_option("--repeats", monitoring_repeats, "alternating passes (medians are printed)")
            ->capture_default_str()
            ->check(CLI::PositiveNumber);
        mon->add_option("--cpu", tb.cpu, "pin the driver, its executors to this CPU");
        auto* tlat = cli.add_subcommand("task-latency", "one-task job submit-to-result latency vs raw TCP ping-pong");
        tlat->add_option("--master", tb.master)->capture_default_str();
        tlat->add_option("--jobs", tb.jobs)->capture_default_str()->check(CLI::PositiveNumber);
        tlat->add_option("--cpu", tb.cpu, "pin the driver, its executors and the baseline to this CPU");
        bench::ShuffleBenchOptions sb;
        std::string size = "4g";
        auto* shuf = cli.add_subcommand("shuffle", "sort_by_key and reduce_by_key of generated records vs GNU sort, "
                                                   "with executors' peak memory");
        shuf->add_option("--master", sb.master)->capture_default_str();
        shuf->add_option("--size", size, "input bytes (100-byte records), e.g. 4g, 1000m")->capture_default_str();
        shuf->add_option("--layouts", sb.layouts, "MAPSxREDUCES partition layouts")->delimiter(',')->capture_default_str();
        shuf->add_option("--ops", sb.ops, "sort, reduce_by_key")->delimiter(',')->capture_default_str();
        shuf->add_option("--prefix-chars", sb.prefix_chars, "reduce_by_key groups keys by this prefix")->capture_default_str();
        shuf->add_option("--dir", sb.dir, "work directory (kept, with the input for later runs)");
        bench::PageRankOptions pr;
        auto* rank = cli.add_subcommand("pagerank", "Spark's PageRank over the Debian package graph vs a "
                                                    "single-threaded CSR loop");
        rank->add_option("--master", pr.master)->capture_default_str();
        rank->add_option("--iterations", pr.iterations)->capture_default_str()->check(CLI::PositiveNumber);
        rank->add_option("--partitions", pr.partitions, "0: ember.default.parallelism (the cluster's cores)")
            ->capture_default_str()
            ->check(CLI::NonNegativeNumber);
        rank->add_option("--repeats", pr.repeats, "alternating passes (medians are printed)")
            ->capture_default_str()
            ->check(CLI::PositiveNumber);
        rank->add_option("PACKAGES", pr.inputs, "apt Packages indexes or dpkg status files (default: apt's lists)");
        cli.footer("--conf KEY=VALUE (repeatable, anywhere): RpcEnv or SparkContext configuration (taken by ember::run)");
        CLI11_PARSE(cli, argc, argv);
        // The RPC benchmarks build RpcEnvs themselves; a SparkContext starts from it anyway.
        rpc.conf = ember::submitted_conf();
        tb.conf = ember::submitted_conf();  // the raw baselines spin for its ember.rpc.io.spinTime
        if (shuf->parsed()) {
            ember::Conf sizes;
            sizes.set("size", size);
            sb.bytes = static_cast<std::uint64_t>(sizes.get_size_bytes("size", "0"));
            return bench::bench_shuffle(sb);
        }
        if (rank->parsed()) {
            pr.conf = ember::submitted_conf();
            return bench::bench_pagerank(pr);
        }
        if (wc->parsed()) return bench::bench_wordcount_corpus(wco);
        if (wcorp->parsed()) return bench::bench_wordcount_corpus(wcc);
        if (wscale->parsed()) return bench::bench_wordcount_scaling(wcs, scaling_every, scaling_executors);
        if (lat->parsed()) return bench::bench_rpc_latency(rpc);
        if (thr->parsed()) return bench::bench_rpc_throughput(rpc);
        if (sec->parsed()) {
            ember::Conf sizes;
            sizes.set("bulk", bulk);
            return bench::bench_security(rpc, static_cast<std::uint64_t>(sizes.get_size_bytes("bulk", "0")), repeats,
                                         sec_parts);
        }
        if (tasks->parsed()) return bench::bench_tasks(tb);
        if (tlat->parsed()) return bench::bench_task_latency(tb);
        if (mon->parsed()) return bench::bench_monitoring(tb, monitoring_repeats);
        return 2;
    });
}
