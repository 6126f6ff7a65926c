// SPDX-License-Identifier: Apache-2.0
// Shuffle fetch like Spark's, over real sockets between real BlockManagers: transport retries
// (ember.shuffle.io.maxRetries / retryWait) against a block server that refuses connections
// and then serves, per-address and per-reducer in-flight limits seen by a block server, and the
// checksum diagnosis of a corrupt block (DISK_ISSUE, NETWORK_ISSUE, ...), with Spark's file
// layout of the checksum file.
#include "rpc/testkit/local_envs.hpp"
#include "shuffle/index_shuffle_block_resolver.hpp"
#include "shuffle/map_output_writer.hpp"
#include "shuffle/shuffle_block_fetcher_iterator.hpp"
#include "shuffle/shuffle_checksum.hpp"
#include "storage/block_manager.hpp"
#include "test/support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace ember;
using namespace ember::shuffle;
using namespace std::chrono_literals;

namespace {

// -- a TCP proxy in front of a block server --------------------------------------------------

/// Listens on 127.0.0.1 (a free port, or `port`) and forwards connections to `target`. The
/// first `refuse` connections are reset at once (SO_LINGER 0: the client sees ECONNRESET); if
/// `flip_at` is set, byte `flip_at` of what the server sends on the first forwarded connection
/// is inverted (corruption in transit).
class TcpProxy {
public:
    TcpProxy(std::uint16_t target, int refuse, std::optional<std::uint64_t> flip_at = std::nullopt,
             std::uint16_t port = 0)
        : target_(target), refuse_(refuse), flip_at_(flip_at) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port);
        REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(listen_fd_, 16) == 0);
        socklen_t len = sizeof a;
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        accepter_ = std::thread([this] { accept_loop(); });
    }
    ~TcpProxy() {
        stopping_ = true;
        ::shutdown(listen_fd_, SHUT_RDWR);
        accepter_.join();
        {
            std::lock_guard lk(mu_);
            for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
        }
        for (auto& t : pumps_) t.join();
        for (int fd : fds_) ::close(fd);
        ::close(listen_fd_);
    }
    std::uint16_t port() const { return port_; }
    int connections() const { return connections_.load(); }

private:
    void accept_loop() {
        for (;;) {
            int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) {
                if (stopping_) return;
                continue;
            }
            int n = connections_++;
            if (n < refuse_) {
                linger l{1, 0};
                ::setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l);
                ::close(c);
                continue;
            }
            int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            a.sin_port = htons(target_);
            if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
                ::close(s);
                ::close(c);
                continue;
            }
            std::optional<std::uint64_t> flip = n == refuse_ ? flip_at_ : std::nullopt;
            std::lock_guard lk(mu_);
            fds_.push_back(c);
            fds_.push_back(s);
            pumps_.emplace_back([c, s] { pump(c, s, std::nullopt); });
            pumps_.emplace_back([c, s, flip] { pump(s, c, flip); });
        }
    }
    static void pump(int from, int to, std::optional<std::uint64_t> flip) {
        char buf[16384];
        std::uint64_t at = 0;
        for (;;) {
            ssize_t n = ::read(from, buf, sizeof buf);
            if (n <= 0) break;
            if (flip && *flip >= at && *flip < at + static_cast<std::uint64_t>(n)) buf[*flip - at] ^= 0x5a;
            at += static_cast<std::uint64_t>(n);
            for (ssize_t done = 0; done < n;) {
                ssize_t w = ::send(to, buf + done, static_cast<std::size_t>(n - done), MSG_NOSIGNAL);
                if (w <= 0) return;
                done += w;
            }
        }
        ::shutdown(to, SHUT_WR);
    }

    std::uint16_t target_;
    int refuse_;
    std::optional<std::uint64_t> flip_at_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<int> connections_{0};
    std::thread accepter_;
    std::mutex mu_;
    std::vector<int> fds_;
    std::vector<std::thread> pumps_;
};

// -- map outputs on a serving BlockManager ---------------------------------------------------

constexpr int kShuffle = 3;

/// A serving BlockManager ("1") and a reducing one ("2") on two envs; `maps` map outputs of
/// `reduces` partitions written on the server: map m, partition p holds records "m:p:i".
struct Cluster {
    std::string root = test::fresh_temp_dir("shuffle-fetch");
    rpc::testkit::LocalEnvs envs{2};
    Conf conf = [this] {
        Conf c;
        c.set("ember.local.dir", root);
        c.set("ember.shuffle.io.connectionTimeout", "20s");
        return c;
    }();
    storage::BlockManager server{"1", envs[0], conf};
    storage::BlockManager reducer{"2", envs[1], conf};
    IndexShuffleBlockResolver server_resolver{server.disk_block_manager()};
    IndexShuffleBlockResolver reducer_resolver{reducer.disk_block_manager()};
    std::map<std::pair<std::int64_t, int>, std::uint64_t> sizes;
    std::map<std::pair<std::int64_t, int>, std::vector<std::string>> records;

    Cluster() {
        server.initialize();
        reducer.initialize();
        server.set_shuffle_block_resolver(&server_resolver);
        reducer.set_shuffle_block_resolver(&reducer_resolver);
    }
    ~Cluster() { std::filesystem::remove_all(root); }

    /// Writes map `m` with `per_partition` records of `record_bytes` bytes each (random bytes,
    /// seeded by m: incompressible) or short text records when record_bytes is 0.
    void write_map(std::int64_t m, int reduces, int per_partition, std::size_t record_bytes = 0,
                   ShuffleWriteOptions opts = {}, bool on_reducer = false) {
        auto& resolver = on_reducer ? reducer_resolver : server_resolver;
        auto& bm = on_reducer ? reducer : server;
        MapOutputWriter w(resolver, bm.disk_block_manager(), kShuffle, m, reduces, opts);
        std::mt19937 rng(static_cast<std::uint32_t>(m) + 1);
        for (int p = 0; p < reduces; ++p) {
            for (int i = 0; i < per_partition; ++i) {
                std::string r = std::to_string(m) + ":" + std::to_string(p) + ":" + std::to_string(i);
                if (record_bytes > 0) {
                    r.resize(record_bytes);
                    for (std::size_t k = 16; k < record_bytes; ++k) r[k] = static_cast<char>(rng());
                }
                w.partition(p).write(r);
                records[{m, p}].push_back(r);
            }
        }
        ShuffleWriteMetrics metrics;
        auto lengths = w.commit(metrics);
        for (int p = 0; p < reduces; ++p) sizes[{m, p}] = lengths[static_cast<std::size_t>(p)];
    }

    /// The blocks of reduce partition `r` of maps [0, maps), as held at `at`.
    BlocksByAddress blocks(const storage::BlockManagerId& at, int maps, int r) {
        std::vector<BlockInfo> infos;
        for (int m = 0; m < maps; ++m) {
            if (sizes[{m, r}] > 0) infos.push_back(BlockInfo{{kShuffle, m, r}, sizes[{m, r}], m});
        }
        return {{at, infos}};
    }
    storage::BlockManagerId server_at(std::uint16_t port) const { return {"1", "127.0.0.1", port}; }

    /// Every record of reduce partition `r` of maps [0, maps), sorted (the oracle).
    std::vector<std::string> expected(int maps, int r) {
        std::vector<std::string> out;
        for (int m = 0; m < maps; ++m) out.insert(out.end(), records[{m, r}].begin(), records[{m, r}].end());
        std::sort(out.begin(), out.end());
        return out;
    }
};

/// Reads every block of `fetcher` as the reduce side does; returns the records sorted.
std::vector<std::string> read_all(ShuffleBlockFetcherIterator& fetcher) {
    std::vector<std::string> out;
    while (auto block = fetcher.next()) {
        read_block_records(fetcher, std::move(*block), true, [&](Decoder& d) { out.push_back(d.read<std::string>()); });
    }
    std::sort(out.begin(), out.end());
    return out;
}

/// The FetchFailedException message reading reduce partition `r` gives, or "" if none.
std::string fetch_failure(Cluster& c, const BlocksByAddress& blocks, FetchOptions opts) {
    ShuffleReadMetrics metrics;
    try {
        ShuffleBlockFetcherIterator fetcher(c.reducer, blocks, opts, metrics);
        read_all(fetcher);
    } catch (const FetchFailedException& e) {
        return e.message();
    }
    return "";
}

FetchOptions quick_retries(int max_retries) {
    FetchOptions o;
    o.max_retries = max_retries;
    o.retry_wait = 200ms;
    return o;
}

std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

void flip_byte(const std::string& path, std::uint64_t offset) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    REQUIRE(f);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(static_cast<char>(c ^ 0x5a));
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

// -- transport retries -----------------------------------------------------------------------

TEST_CASE("A block server that resets the first two connections is retried, not a fetch failure",
          "[shuffle][fetch][retry]") {
    Cluster c;
    for (int m = 0; m < 4; ++m) c.write_map(m, 3, 50);
    TcpProxy proxy(c.envs[0].address().port, 2);
    ShuffleReadMetrics metrics;
    auto start = std::chrono::steady_clock::now();
    ShuffleBlockFetcherIterator fetcher(c.reducer, c.blocks(c.server_at(proxy.port()), 4, 1), quick_retries(3),
                                        metrics);
    CHECK(read_all(fetcher) == c.expected(4, 1));
    CHECK(fetcher.retries() == 2);
    CHECK(proxy.connections() == 3);
    CHECK(std::chrono::steady_clock::now() - start >= 400ms);  // two waits of retryWait
    CHECK(metrics.remote_blocks_fetched == 4);
    CHECK(metrics.remote_reqs_duration_ns > 0);
}

TEST_CASE("With ember.shuffle.io.maxRetries=0 a reset connection is a fetch failure", "[shuffle][fetch][retry]") {
    Cluster c;
    for (int m = 0; m < 2; ++m) c.write_map(m, 2, 10);
    TcpProxy proxy(c.envs[0].address().port, 2);
    auto why = fetch_failure(c, c.blocks(c.server_at(proxy.port()), 2, 0), quick_retries(0));
    INFO(why);
    CHECK(why.starts_with("Failed to fetch blocks from BlockManagerId(1, 127.0.0.1, "));
    CHECK(proxy.connections() == 1);
}

TEST_CASE("A server that is not listening yet is retried until it comes back", "[shuffle][fetch][retry]") {
    // Connection refused for real: nothing listens on the port until the reducer retried twice.
    Cluster c;
    for (int m = 0; m < 3; ++m) c.write_map(m, 2, 20);
    std::uint16_t port = free_port();
    ShuffleReadMetrics metrics;
    FetchOptions opts = quick_retries(4);
    opts.retry_wait = 500ms;
    ShuffleBlockFetcherIterator fetcher(c.reducer, c.blocks(c.server_at(port), 3, 1), opts, metrics);
    auto result = std::async(std::launch::async, [&] { return read_all(fetcher); });
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (fetcher.retries() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    REQUIRE(fetcher.retries() >= 2);
    TcpProxy proxy(c.envs[0].address().port, 0, std::nullopt, port);  // the server comes back
    CHECK(result.get() == c.expected(3, 1));
    CHECK(fetcher.retries() >= 2);
    CHECK(fetcher.retries() <= 3);
}

TEST_CASE("Retries exhausted: the fetch failure says how many were made", "[shuffle][fetch][retry]") {
    Cluster c;
    c.write_map(0, 1, 5);
    auto why = fetch_failure(c, c.blocks(c.server_at(free_port()), 1, 0), quick_retries(2));
    INFO(why);
    CHECK(why.find("(after 2 retries)") != std::string::npos);
}

TEST_CASE("An error from the server itself is not retried", "[shuffle][fetch][retry]") {
    Cluster c;
    c.write_map(0, 2, 5);
    auto blocks = c.blocks(c.server_at(c.envs[0].address().port), 1, 0);
    blocks[0].second[0].id.map_id = 99;  // no such map output on the server
    auto start = std::chrono::steady_clock::now();
    auto why = fetch_failure(c, blocks, quick_retries(3));
    INFO(why);
    CHECK(why.find("is not available at executor 1") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - start < 200ms);
}

// -- in-flight limits ------------------------------------------------------------------------

namespace {

/// A block server (endpoint "block-transfer") that answers FetchBlocks after `delay` from the
/// real server's files, and records the most blocks and requests it had outstanding at once.
class CountingBlockServer final : public rpc::RpcEndpoint {
public:
    CountingBlockServer(storage::BlockManager& source, std::chrono::milliseconds delay)
        : source_(source), delay_(delay) {}
    ~CountingBlockServer() override { join(); }

    void receive_and_reply(const rpc::Message& msg, rpc::RpcCallContext ctx) override {
        auto req = storage::read_fetch_blocks(msg.get<storage::wire::FetchBlocks>());
        if (!req) {
            ctx.send_failure(req.error().message);
            return;
        }
        std::vector<storage::ManagedBuffer> bufs;
        for (auto& b : *req) bufs.push_back(source_.get_local_bytes(b.id));
        const int n = static_cast<int>(bufs.size());
        max_blocks_ = std::max(max_blocks_.load(), blocks_ += n);
        max_reqs_ = std::max(max_reqs_.load(), ++reqs_);
        ++requests_;
        std::lock_guard lk(mu_);
        threads_.emplace_back([this, ctx, bufs = std::move(bufs), n] {
            std::this_thread::sleep_for(delay_);
            auto reply = rpc::OutgoingMessage::make<storage::wire::BlocksFetched>();
            auto sizes = reply.payload<storage::wire::BlocksFetched>().initSizes(static_cast<unsigned>(bufs.size()));
            for (unsigned i = 0; i < bufs.size(); ++i) sizes.set(i, bufs[i].size());
            for (auto& b : bufs) reply.add_body(rpc::SharedBytes{b.owner, b.bytes});
            blocks_ -= n;  // before the reply: the reducer may send the next request at once
            --reqs_;
            ctx.reply(std::move(reply));
        });
    }
    void join() {
        std::lock_guard lk(mu_);
        for (auto& t : threads_) t.join();
        threads_.clear();
    }
    int max_blocks() const { return max_blocks_; }
    int max_reqs() const { return max_reqs_; }
    int requests() const { return requests_; }

private:
    storage::BlockManager& source_;
    std::chrono::milliseconds delay_;
    std::atomic<int> blocks_{0}, reqs_{0}, max_blocks_{0}, max_reqs_{0}, requests_{0};
    std::mutex mu_;
    std::vector<std::thread> threads_;
};

struct LimitRun {
    std::vector<std::string> records;
    int server_max_blocks;
    int server_max_reqs;
    int server_requests;
    ShuffleReadMetrics metrics;
};

/// Reads partition 0 of 12 maps from a CountingBlockServer under `opts`.
LimitRun run_limited(FetchOptions opts) {
    Cluster c;
    for (int m = 0; m < 12; ++m) c.write_map(m, 2, 30);
    rpc::testkit::LocalEnvs fake_env(1);
    auto ep = std::make_unique<CountingBlockServer>(c.server, 30ms);
    auto* server = ep.get();
    fake_env[0].setup_endpoint(std::string(storage::BlockManager::kEndpointName), std::move(ep)).value();
    storage::BlockManagerId at{"fake", "127.0.0.1", fake_env[0].address().port};
    LimitRun run;
    // Small requests: one block each unless the limits say otherwise.
    opts.max_bytes_in_flight = 5 * c.sizes[{0, 0}];
    ShuffleBlockFetcherIterator fetcher(c.reducer, c.blocks(at, 12, 0), opts, run.metrics);
    run.records = read_all(fetcher);
    CHECK(run.records == c.expected(12, 0));
    server->join();
    run.server_max_blocks = server->max_blocks();
    run.server_max_reqs = server->max_reqs();
    run.server_requests = server->requests();
    return run;
}

}  // namespace

TEST_CASE("maxBlocksInFlightPerAddress=1: the server never has two blocks of the reducer in flight",
          "[shuffle][fetch][limits]") {
    FetchOptions unlimited;
    auto base = run_limited(unlimited);
    CHECK(base.server_max_blocks > 1);  // without the limit, several blocks are in flight
    CHECK(base.metrics.peak_blocks_in_flight >= static_cast<std::uint64_t>(base.server_max_blocks));

    FetchOptions one;
    one.max_blocks_in_flight_per_address = 1;
    auto limited = run_limited(one);
    CHECK(limited.server_max_blocks == 1);
    CHECK(limited.server_requests == 12);
    CHECK(limited.metrics.peak_blocks_in_flight == 1);
    CHECK(limited.metrics.remote_blocks_fetched == 12);
}

TEST_CASE("maxReqsInFlight bounds the requests a reducer has outstanding", "[shuffle][fetch][limits]") {
    FetchOptions two;
    two.max_reqs_in_flight = 2;
    auto run = run_limited(two);
    CHECK(run.server_max_reqs <= 2);
    CHECK(run.server_max_reqs >= 1);
    CHECK(run.metrics.peak_reqs_in_flight <= 2);
    CHECK(run.metrics.peak_bytes_in_flight > 0);
}

// -- checksums -------------------------------------------------------------------------------

TEST_CASE("The checksum file is Spark's: one big-endian long per partition, named by algorithm",
          "[shuffle][checksum]") {
    Cluster c;
    for (const char* algo : {"ADLER32", "CRC32"}) {
        ShuffleWriteOptions opts;
        opts.checksum_algorithm = algo;
        std::int64_t map = std::string(algo) == "CRC32" ? 7 : 6;
        c.write_map(map, 4, 25, 0, opts);
        auto path = c.server_resolver.checksum_file(kShuffle, map, algo);
        CHECK(std::filesystem::path(path).filename() ==
              "shuffle_" + std::to_string(kShuffle) + "_" + std::to_string(map) + "_0.checksum." + algo);
        auto bytes = slurp(path);
        REQUIRE(bytes.size() == 4 * 8);
        auto data = slurp(c.server_resolver.data_file(kShuffle, map));
        for (int p = 0; p < 4; ++p) {
            auto seg = c.server_resolver.get_block_data({kShuffle, map, p});
            auto* s = reinterpret_cast<const Bytef*>(data.data() + seg.offset);
            std::uint64_t want = std::string(algo) == "CRC32" ? crc32(0, s, static_cast<uInt>(seg.length))
                                                              : adler32(1, s, static_cast<uInt>(seg.length));
            std::uint64_t got = 0;
            for (int b = 0; b < 8; ++b) got = (got << 8) | static_cast<unsigned char>(bytes[p * 8 + b]);
            CHECK(got == want);
            CHECK(read_checksum_by_reduce_id(path, p) == want);
        }
    }
    // An empty partition: Adler-32 of nothing is 1, CRC-32 of nothing 0 (Java's initial values).
    CHECK(ShuffleChecksum::of("adler32")->value() == 1);
    CHECK(ShuffleChecksum::of("CRC32")->value() == 0);
    CHECK_FALSE(ShuffleChecksum::of("MD5"));
}

TEST_CASE("A byte flipped in a shuffle file on disk is diagnosed DISK_ISSUE", "[shuffle][checksum]") {
    Cluster c;
    for (int m = 0; m < 3; ++m) c.write_map(m, 3, 200);
    auto seg = c.server_resolver.get_block_data({kShuffle, 1, 2});
    flip_byte(seg.path, seg.offset + seg.length / 2);
    auto why = fetch_failure(c, c.blocks(c.server_at(c.envs[0].address().port), 3, 2), {});
    CHECK(why == "Block shuffle_3_1_2 is corrupted due to DISK_ISSUE");
}

TEST_CASE("A corrupt local block is diagnosed directly, without a request", "[shuffle][checksum]") {
    Cluster c;
    for (int m = 0; m < 2; ++m) c.write_map(m, 2, 200, 0, {}, true);
    auto seg = c.reducer_resolver.get_block_data({kShuffle, 0, 1});
    flip_byte(seg.path, seg.offset + seg.length / 2);
    auto why = fetch_failure(c, c.blocks(c.reducer.id(), 2, 1), {});
    CHECK(why == "Block shuffle_3_0_1 is corrupted due to DISK_ISSUE");
}

TEST_CASE("A byte flipped in transit is diagnosed NETWORK_ISSUE", "[shuffle][checksum]") {
    Cluster c;
    c.write_map(0, 1, 200, 1000);  // 200 KB of incompressible records
    REQUIRE(c.sizes[{0, 0}] > 150000);
    TcpProxy proxy(c.envs[0].address().port, 0, 100000);
    auto why = fetch_failure(c, c.blocks(c.server_at(proxy.port()), 1, 0), {});
    CHECK(why == "Block shuffle_3_0_0 is corrupted due to NETWORK_ISSUE");
}

TEST_CASE("Corruption that the checksums cannot explain: verification passed, or the cause is unknown",
          "[shuffle][checksum]") {
    Cluster c;
    c.write_map(0, 2, 200);
    c.write_map(1, 2, 200);
    const auto at = c.server_at(c.envs[0].address().port);
    // Corrupt on disk, with the stored checksum rewritten to match: everything agrees.
    auto seg = c.server_resolver.get_block_data({kShuffle, 0, 0});
    flip_byte(seg.path, seg.offset + seg.length / 2);
    {
        auto data = slurp(seg.path);
        std::uint64_t sum = adler32(1, reinterpret_cast<const Bytef*>(data.data() + seg.offset),
                                    static_cast<uInt>(seg.length));
        std::string be(8, '\0');
        for (int b = 0; b < 8; ++b) be[static_cast<std::size_t>(b)] = static_cast<char>(sum >> (56 - 8 * b));
        std::fstream f(c.server_resolver.checksum_file(kShuffle, 0), std::ios::in | std::ios::out | std::ios::binary);
        f.write(be.data(), 8);
    }
    CHECK(fetch_failure(c, c.blocks(at, 1, 0), {}) == "Block shuffle_3_0_0 is corrupted but checksum verification passed");
    // No checksum file: unknown.
    std::filesystem::remove(c.server_resolver.checksum_file(kShuffle, 0));
    CHECK(fetch_failure(c, c.blocks(at, 1, 0), {}) == "Block shuffle_3_0_0 is corrupted but the cause is unknown");
    // A reader configured with an algorithm the server does not know.
    FetchOptions md5;
    md5.checksum_algorithm = "MD5";
    CHECK(fetch_failure(c, c.blocks(at, 1, 0), md5) ==
          "Block shuffle_3_0_0 is corrupted but corruption diagnosis failed due to unsupported checksum algorithm: MD5");
    // Checksums disabled: the decoder's own message, as before.
    FetchOptions off;
    off.checksum_enabled = false;
    auto why = fetch_failure(c, c.blocks(at, 1, 0), off);
    CHECK(why.starts_with("Block shuffle_3_0_0 is corrupt: "));
}
