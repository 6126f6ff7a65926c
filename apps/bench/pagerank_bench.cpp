// SPDX-License-Identifier: Apache-2.0
#include "apps/bench/pagerank_bench.hpp"

#include "apps/bench/bench_support.hpp"
#include "scheduler/ember.hpp"

#include <fmt/format.h>
#include <lz4frame.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

namespace bench {

namespace {

std::string read_whole(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("pagerank: cannot read " + path);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!path.ends_with(".lz4")) return bytes;
    // apt keeps its indexes as LZ4 frames.
    LZ4F_dctx* dctx = nullptr;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) {
        throw std::runtime_error("pagerank: no LZ4 decompression context");
    }
    std::unique_ptr<LZ4F_dctx, decltype(&LZ4F_freeDecompressionContext)> guard(dctx, LZ4F_freeDecompressionContext);
    std::string out;
    std::string chunk(1 << 20, '\0');
    std::size_t pos = 0;
    while (pos < bytes.size()) {
        std::size_t dst = chunk.size(), src = bytes.size() - pos;
        auto r = LZ4F_decompress(dctx, chunk.data(), &dst, bytes.data() + pos, &src, nullptr);
        if (LZ4F_isError(r)) {
            throw std::runtime_error("pagerank: " + path + " is not a valid LZ4 frame: " + LZ4F_getErrorName(r));
        }
        out.append(chunk.data(), dst);
        pos += src;
        if (r == 0 && src == 0 && dst == 0) break;
    }
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

/// "libc6 (>= 2.34)" -> "libc6"; "python3:any" -> "python3".
std::string_view package_name(std::string_view dep) {
    dep = trim(dep);
    auto end = dep.find_first_of(" (:[<");
    return trim(dep.substr(0, end));
}

std::vector<std::string> default_inputs() {
    std::vector<std::string> files;
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator("/var/lib/apt/lists", ec)) {
        auto name = e.path().filename().string();
        if (name.ends_with("_Packages") || name.ends_with("_Packages.lz4")) files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) files.push_back("/var/lib/dpkg/status");
    return files;
}

/// Spark's PageRank functions.
struct Contributions {
    std::vector<std::pair<std::int32_t, double>> operator()(const std::pair<std::vector<std::int32_t>, double>& p) const {
        std::vector<std::pair<std::int32_t, double>> out;
        out.reserve(p.first.size());
        double share = p.second / static_cast<double>(p.first.size());
        for (auto v : p.first) out.emplace_back(v, share);
        return out;
    }
    EMBER_SERDE()
};
struct AddRanks {
    double operator()(double a, double b) const { return a + b; }
    EMBER_SERDE()
};
struct Damp {
    double operator()(double sum) const { return 0.15 + 0.85 * sum; }
    EMBER_SERDE()
};
struct One {
    double operator()(const std::vector<std::int32_t>&) const { return 1.0; }
    EMBER_SERDE()
};

std::vector<std::pair<std::int32_t, double>> pagerank_ember(ember::SparkContext& sc, const Graph& g, int iterations,
                                                            int partitions) {
    auto links = sc.parallelize(g.edges, partitions).group_by_key(partitions).cache();
    auto ranks = links.map_values(One{});
    for (int i = 0; i < iterations; ++i) {
        auto contribs = links.join(ranks).values().flat_map(Contributions{});
        ranks = contribs.reduce_by_key(AddRanks{}, partitions).map_values(Damp{});
    }
    auto out = ranks.collect();
    std::sort(out.begin(), out.end());
    return out;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

Graph read_debian_package_graph(const std::vector<std::string>& files) {
    Graph g;
    std::unordered_map<std::string, std::int32_t> ids;
    auto id = [&](std::string_view name) {
        auto [it, fresh] = ids.try_emplace(std::string(name), static_cast<std::int32_t>(g.names.size()));
        if (fresh) g.names.emplace_back(name);
        return it->second;
    };
    std::vector<std::pair<std::int32_t, std::int32_t>> edges;
    for (const auto& f : files) {
        std::string text = read_whole(f);
        std::int32_t current = -1;
        std::size_t pos = 0;
        while (pos < text.size()) {
            auto eol = text.find('\n', pos);
            if (eol == std::string::npos) eol = text.size();
            std::string_view line(text.data() + pos, eol - pos);
            pos = eol + 1;
            if (line.empty()) {
                current = -1;  // the next stanza
                continue;
            }
            if (line.starts_with("Package:")) {
                current = id(trim(line.substr(8)));
            } else if (current >= 0 && (line.starts_with("Depends:") || line.starts_with("Pre-Depends:"))) {
                auto deps = line.substr(line.find(':') + 1);
                std::size_t start = 0;
                while (start <= deps.size()) {
                    auto sep = deps.find_first_of(",|", start);
                    if (sep == std::string_view::npos) sep = deps.size();
                    auto name = package_name(deps.substr(start, sep - start));
                    if (!name.empty()) {
                        auto to = id(name);
                        if (to != current) edges.emplace_back(current, to);
                    }
                    start = sep + 1;
                }
            }
        }
    }
    std::sort(edges.begin(), edges.end());
    edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
    if (edges.empty()) throw std::runtime_error("pagerank: no dependency edge in the input files");
    g.edges = std::move(edges);
    return g;
}

std::vector<std::pair<std::int32_t, double>> pagerank_csr(const Graph& g, int iterations) {
    const auto n = g.names.size();
    // Edges are sorted by source: CSR offsets over them.
    std::vector<std::uint32_t> offset(n + 1, 0);
    for (auto& [from, _] : g.edges) ++offset[static_cast<std::size_t>(from) + 1];
    for (std::size_t i = 0; i < n; ++i) offset[i + 1] += offset[i];
    std::vector<std::int32_t> target(g.edges.size());
    for (std::size_t i = 0; i < g.edges.size(); ++i) target[i] = g.edges[i].second;
    std::vector<double> rank(n, 0.0), sum(n, 0.0);
    std::vector<char> ranked(n, 0), received(n, 0);
    for (std::size_t u = 0; u < n; ++u) {
        if (offset[u + 1] > offset[u]) {
            rank[u] = 1.0;
            ranked[u] = 1;
        }
    }
    for (int it = 0; it < iterations; ++it) {
        std::fill(sum.begin(), sum.end(), 0.0);
        std::fill(received.begin(), received.end(), 0);
        for (std::size_t u = 0; u < n; ++u) {
            auto deg = offset[u + 1] - offset[u];
            if (!ranked[u] || deg == 0) continue;
            double share = rank[u] / deg;
            for (auto e = offset[u]; e < offset[u + 1]; ++e) {
                sum[static_cast<std::size_t>(target[e])] += share;
                received[static_cast<std::size_t>(target[e])] = 1;
            }
        }
        for (std::size_t v = 0; v < n; ++v) {
            ranked[v] = received[v];
            rank[v] = received[v] ? 0.15 + 0.85 * sum[v] : 0.0;
        }
    }
    std::vector<std::pair<std::int32_t, double>> out;
    for (std::size_t v = 0; v < n; ++v) {
        if (ranked[v]) out.emplace_back(static_cast<std::int32_t>(v), rank[v]);
    }
    return out;
}

int bench_pagerank(const PageRankOptions& o) {
    auto inputs = o.inputs.empty() ? default_inputs() : o.inputs;
    Graph g = read_debian_package_graph(inputs);
    ember::Conf conf = o.conf;
    conf.set("ember.master", o.master).set("ember.app.name", "ember-bench-pagerank");
    conf.set("ember.ui.enabled", conf.get("ember.ui.enabled", "false"));
    ember::SparkContext sc(conf);
    const int partitions = o.partitions > 0 ? o.partitions : sc.default_parallelism();
    std::vector<double> ember_s, baseline_s;
    bool exact = true;
    std::size_t ranked = 0;
    for (int r = 0; r < o.repeats; ++r) {
        auto t0 = Clock::now();
        auto expected = pagerank_csr(g, o.iterations);
        baseline_s.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
        auto t1 = Clock::now();
        auto got = pagerank_ember(sc, g, o.iterations, partitions);
        ember_s.push_back(std::chrono::duration<double>(Clock::now() - t1).count());
        ranked = expected.size();
        if (got.size() != expected.size()) {
            fmt::print(stderr, "pagerank: ember ranked {} nodes, the CSR loop {}\n", got.size(), expected.size());
            exact = false;
            continue;
        }
        for (std::size_t i = 0; i < got.size(); ++i) {
            auto [v, x] = got[i];
            auto [w, y] = expected[i];
            if (v != w || std::abs(x - y) > 1e-9 * std::max(1.0, std::abs(y))) {
                fmt::print(stderr, "pagerank: node {} ({}): ember {} vs {} ({})\n", v, g.names[static_cast<std::size_t>(v)], x,
                           y, w);
                exact = false;
                break;
            }
        }
    }
    sc.stop();
    double e = median(ember_s), b = median(baseline_s);
    fmt::print(stderr, "pagerank: {} nodes, {} edges, {} ranked after {} iterations; master {}, {} partitions\n",
               g.names.size(), g.edges.size(), ranked, o.iterations, o.master, partitions);
    fmt::print("{{\"name\": \"pagerank\", \"ember\": {:.4f}, \"baseline\": {:.4f}, \"ratio\": {:.2f}, \"unit\": \"s\", "
               "\"iterations\": {}, \"partitions\": {}, \"nodes\": {}, \"edges\": {}, \"exact\": {}}}\n",
               e, b, e / b, o.iterations, partitions, g.names.size(), g.edges.size(), exact ? "true" : "false");
    print_figure("pagerank-per-iteration", e * 1000 / o.iterations, b * 1000 / o.iterations, "ms");
    std::fflush(stdout);
    return exact ? 0 : 1;
}

}  // namespace bench
