// SPDX-License-Identifier: Apache-2.0
#include "shuffle/shuffle_block_fetcher_iterator.hpp"

#include "rpc/log.hpp"
#include "rpc/rpc_env.hpp"
#include "rpc/sim/simulation.hpp"
#include "shuffle/shuffle_checksum.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

namespace ember::shuffle {

ShuffleBlockFetcherIterator::ShuffleBlockFetcherIterator(storage::BlockManager& block_manager,
                                                         BlocksByAddress blocks, FetchOptions options,
                                                         ShuffleReadMetrics& metrics, std::uint64_t* memory_gauge)
    : bm_(block_manager),
      metrics_(metrics),
      options_(options),
      memory_gauge_(memory_gauge),
      shared_(std::make_shared<Shared>()) {
    options_.max_bytes_in_flight = std::max<std::uint64_t>(options_.max_bytes_in_flight, 1);
    options_.max_reqs_in_flight = std::max(options_.max_reqs_in_flight, 1);
    options_.max_blocks_in_flight_per_address = std::max(options_.max_blocks_in_flight_per_address, 1);
    options_.max_retries = std::max(options_.max_retries, 0);
    const std::uint64_t target = std::max<std::uint64_t>(options_.max_bytes_in_flight / 5, 1);
    // Requests are shuffled in groups: a download's ranges stay together and in order, so few
    // temp files are open at once.
    std::vector<std::vector<Request>> groups;
    for (auto& [address, infos] : blocks) {
        if (address.executor_id == bm_.id().executor_id) {
            for (auto& b : infos) local_.emplace_back(address, b);
            continue;
        }
        Request cur{address, {}, 0, std::nullopt, 0};
        for (auto& b : infos) {
            if (b.size > options_.max_block_size_to_mem) {
                std::size_t d = downloads_.size();
                std::size_t ranges = static_cast<std::size_t>((b.size + target - 1) / target);
                downloads_.push_back(Download{b, address, nullptr, {}, ranges});
                std::vector<Request> group;
                for (std::uint64_t off = 0; off < b.size; off += target) {
                    group.push_back(Request{address, {b}, std::min(target, b.size - off), d, off});
                }
                groups.push_back(std::move(group));
                continue;
            }
            cur.blocks.push_back(b);
            cur.bytes += b.size;
            if (cur.bytes >= target ||
                cur.blocks.size() >= static_cast<std::size_t>(std::max(options_.max_blocks_in_flight_per_address, 1))) {
                groups.push_back({std::move(cur)});
                cur = Request{address, {}, 0, std::nullopt, 0};
            }
        }
        if (!cur.blocks.empty()) groups.push_back({std::move(cur)});
    }
    // Random order spreads the load over the serving executors (Spark shuffles requests too).
    // In a simulation the order comes from its seed, so a run replays exactly.
    auto* sim = sim::Simulation::current();
    std::mt19937 rng(sim ? static_cast<std::mt19937::result_type>(sim->random().next()) : std::random_device{}());
    std::shuffle(groups.begin(), groups.end(), rng);
    for (auto& g : groups) {
        for (auto& r : g) pending_.push_back(std::move(r));
    }
    send_requests();
}

ShuffleBlockFetcherIterator::~ShuffleBlockFetcherIterator() {
    if (memory_gauge_) *memory_gauge_ = 0;
}

void ShuffleBlockFetcherIterator::update_gauge() {
    if (memory_gauge_) *memory_gauge_ = bytes_in_flight_ + ready_memory_bytes_ + handed_out_bytes_;
}

namespace {

std::string address_key(const storage::BlockManagerId& a) { return a.to_string(); }

/// Spark retries IOExceptions only: the peer was unreachable or the connection broke, not a
/// refusal to serve the block.
bool is_io_error(rpc::RpcErrc code) {
    return code == rpc::RpcErrc::connection_failed || code == rpc::RpcErrc::connection_closed ||
           code == rpc::RpcErrc::timeout;
}

std::uint64_t ns_since(std::chrono::steady_clock::time_point t) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t).count());
}

/// The simulation that runs the calling task's waits (master sim[...]), or null.
sim::Simulation* simulation() {
    auto* sim = sim::Simulation::current();
    return sim && sim->can_block() ? sim : nullptr;
}

/// When retries fall due: virtual time in a simulation, else steady_clock's.
std::chrono::steady_clock::time_point retry_clock_now() {
    if (auto* sim = simulation()) return std::chrono::steady_clock::time_point(sim->now());
    return std::chrono::steady_clock::now();
}

}  // namespace

bool ShuffleBlockFetcherIterator::fetchable(const std::deque<Request>& queue) const {
    if (queue.empty()) return false;
    return bytes_in_flight_ == 0 ||
           (requests_in_flight_ + 1 <= static_cast<std::size_t>(options_.max_reqs_in_flight) &&
            bytes_in_flight_ + queue.front().bytes <= options_.max_bytes_in_flight);
}

bool ShuffleBlockFetcherIterator::address_maxed_out(const Request& r) const {
    auto it = blocks_in_flight_.find(address_key(r.address));
    std::size_t in_flight = it == blocks_in_flight_.end() ? 0 : static_cast<std::size_t>(it->second);
    return in_flight + r.blocks.size() > static_cast<std::size_t>(options_.max_blocks_in_flight_per_address);
}

void ShuffleBlockFetcherIterator::send_requests() {
    // Deferred requests first, for addresses that have room again.
    for (auto it = deferred_.begin(); it != deferred_.end();) {
        auto& queue = it->second;
        while (fetchable(queue) && !address_maxed_out(queue.front())) {
            Request r = std::move(queue.front());
            queue.pop_front();
            send(std::move(r));
        }
        it = queue.empty() ? deferred_.erase(it) : std::next(it);
    }
    while (fetchable(pending_)) {
        Request r = std::move(pending_.front());
        pending_.pop_front();
        if (address_maxed_out(r)) {
            deferred_[address_key(r.address)].push_back(std::move(r));
        } else {
            send(std::move(r));
        }
    }
    update_gauge();
}

void ShuffleBlockFetcherIterator::send(Request r) {
    bytes_in_flight_ += r.bytes;
    ++requests_in_flight_;
    blocks_in_flight_[address_key(r.address)] += static_cast<int>(r.blocks.size());
    total_blocks_in_flight_ += r.blocks.size();
    metrics_.peak_bytes_in_flight = std::max(metrics_.peak_bytes_in_flight, bytes_in_flight_);
    metrics_.peak_reqs_in_flight = std::max<std::uint64_t>(metrics_.peak_reqs_in_flight, requests_in_flight_);
    metrics_.peak_blocks_in_flight = std::max(metrics_.peak_blocks_in_flight, total_blocks_in_flight_);
    r.sent_at = std::chrono::steady_clock::now();
    issue(std::move(r));
}

void ShuffleBlockFetcherIterator::done_in_flight(const Request& r) {
    --requests_in_flight_;
    bytes_in_flight_ -= r.bytes;
    total_blocks_in_flight_ -= r.blocks.size();
    auto it = blocks_in_flight_.find(address_key(r.address));
    if (it != blocks_in_flight_.end() && (it->second -= static_cast<int>(r.blocks.size())) <= 0) {
        blocks_in_flight_.erase(it);
    }
    metrics_.remote_reqs_duration_ns += ns_since(r.sent_at);
}

void ShuffleBlockFetcherIterator::issue(Request r) {
    std::vector<storage::BlockId> ids;
    ids.reserve(r.blocks.size());
    for (auto& b : r.blocks) ids.emplace_back(b.id);
    std::vector<storage::ByteRange> ranges;
    if (r.download) ranges.push_back(storage::ByteRange{r.offset, r.bytes});
    auto address = r.address;
    bm_.fetch_blocks(
        address, ids,
        [shared = shared_, r = std::move(r)](rpc::RpcResult<std::vector<storage::ManagedBuffer>> res) mutable {
            {
                std::lock_guard lk(shared->mu);
                shared->results.push_back(Result{std::move(r), std::move(res)});
            }
            shared->cv.notify_one();
        },
        std::move(ranges));
}

void ShuffleBlockFetcherIterator::issue_due_retries() {
    auto now = retry_clock_now();
    for (std::size_t i = 0; i < retrying_.size();) {
        if (retrying_[i].first <= now) {
            Request r = std::move(retrying_[i].second);
            retrying_.erase(retrying_.begin() + static_cast<std::ptrdiff_t>(i));
            issue(std::move(r));
        } else {
            ++i;
        }
    }
}

void ShuffleBlockFetcherIterator::fail(const storage::BlockManagerId& address, const BlockInfo& info,
                                       const std::string& why) {
    throw FetchFailedException(address, info.id.shuffle_id, info.id.map_id, info.map_index, info.id.reduce_id, why);
}

void ShuffleBlockFetcherIterator::store_range(const Request& r, const storage::ManagedBuffer& buf) {
    auto& d = downloads_[*r.download];
    const auto& info = d.info;
    if (!d.file) {
        // Spark's DownloadFileManager: a temp file in the local dirs. Unlinked at once, so
        // nothing is left behind however the task ends.
        d.path = bm_.disk_block_manager().get_file(storage::BlockId{storage::TempLocalBlockId{storage::random_uuid()}});
        int fd = ::open(d.path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            fail(d.address, info, fmt::format("Cannot create {} to download block {}: {}", d.path,
                                              storage::name(storage::BlockId{info.id}), std::strerror(errno)));
        }
        ::unlink(d.path.c_str());
        d.file = std::make_shared<rpc::FileHandle>(fd);
    }
    const char* p = reinterpret_cast<const char*>(buf.bytes.data());
    std::size_t left = buf.size();
    std::uint64_t at = r.offset;
    while (left > 0) {
        ssize_t n = ::pwrite(d.file->fd(), p, left, static_cast<off_t>(at));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            fail(d.address, info, fmt::format("Cannot write block {} to {}: {}", storage::name(storage::BlockId{info.id}),
                                              d.path, n == 0 ? "no space written" : std::strerror(errno)));
        }
        p += n;
        left -= static_cast<std::size_t>(n);
        at += static_cast<std::uint64_t>(n);
    }
    metrics_.remote_bytes_read += buf.size();
    metrics_.remote_bytes_read_to_disk += buf.size();
    if (--d.ranges_left == 0) {
        ++metrics_.remote_blocks_fetched;
        ready_.push_back(FetchedBlock{info, d.address, storage::BlockData{{}, std::move(d.file), 0, info.size, d.path}});
    }
}

std::optional<FetchedBlock> ShuffleBlockFetcherIterator::next() {
    handed_out_bytes_ = 0;  // the caller is done with the last block
    for (;;) {
        if (!retrying_.empty()) issue_due_retries();
        if (!ready_.empty()) {
            FetchedBlock b = std::move(ready_.front());
            ready_.pop_front();
            if (b.data.in_memory()) {
                ready_memory_bytes_ -= b.data.size();
                handed_out_bytes_ = b.data.size();
            }
            update_gauge();
            return b;
        }
        // A finished remote request, if any, without waiting.
        std::optional<Result> done;
        {
            std::unique_lock lk(shared_->mu);
            if (shared_->results.empty() && local_.empty() && requests_in_flight_ > 0) {
                auto start = std::chrono::steady_clock::now();
                if (auto* sim = simulation()) {
                    // The task is an event of a simulation: its wait runs the simulation (the
                    // fetches are its events) until a result is there or a retry is due.
                    lk.unlock();
                    auto arrived = [this] {
                        std::lock_guard g(shared_->mu);
                        return !shared_->results.empty();
                    };
                    if (retrying_.empty()) {
                        sim->wait_until(arrived, std::chrono::microseconds::max() / 2);
                    } else {
                        auto due = std::min_element(retrying_.begin(), retrying_.end(),
                                                    [](auto& a, auto& b) { return a.first < b.first; })
                                       ->first;
                        auto delay = std::chrono::duration_cast<std::chrono::microseconds>(due - retry_clock_now());
                        sim->schedule(delay, [] {});  // the retry's time comes even if all is quiet
                        sim->wait_until(arrived, delay);
                    }
                    // A killed process's task goes no further (its stack unwinds).
                    if (sim->current_process_killed()) throw std::runtime_error("the simulated process was killed");
                    lk.lock();
                } else if (retrying_.empty()) {
                    // An executor's task thread that drives its env's loop between tasks
                    // (rpc::RpcEnv::IoWaitScope) reads the replies itself first: the loop may
                    // be free, its I/O thread napping.
                    lk.unlock();
                    rpc::RpcEnv::IoWaitScope::drive_while_waiting([this] {
                        std::lock_guard g(shared_->mu);
                        return !shared_->results.empty();
                    });
                    lk.lock();
                    shared_->cv.wait(lk, [&] { return !shared_->results.empty(); });
                } else {
                    // Until a result arrives or the next retry is due.
                    auto due = std::min_element(retrying_.begin(), retrying_.end(),
                                                [](auto& a, auto& b) { return a.first < b.first; })
                                   ->first;
                    shared_->cv.wait_until(lk, due, [&] { return !shared_->results.empty(); });
                }
                metrics_.fetch_wait_time_ns += static_cast<std::uint64_t>(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
                        .count());
            }
            if (!shared_->results.empty()) {
                done = std::move(shared_->results.front());
                shared_->results.pop_front();
            }
        }
        if (done) {
            if (!done->buffers) {
                auto& r = done->request;
                const auto& error = done->buffers.error();
                if (is_io_error(error.code) && r.retries < options_.max_retries) {
                    ++r.retries;
                    ++retries_;
                    log::get("shuffle")->info("Retrying fetch ({}/{}) for {} outstanding blocks from {} after {} ms: {}",
                                              r.retries, options_.max_retries, r.blocks.size(), r.address.to_string(),
                                              options_.retry_wait.count(), error.message);
                    retrying_.emplace_back(retry_clock_now() + options_.retry_wait, std::move(r));
                    continue;
                }
                done_in_flight(r);
                fail(r.address, r.blocks.front(),
                     "Failed to fetch blocks from " + r.address.to_string() +
                         (r.retries > 0 ? fmt::format(" (after {} retries)", r.retries) : std::string()) + ": " +
                         error.message);
            }
            done_in_flight(done->request);
            auto& bufs = *done->buffers;
            if (done->request.download) {
                const auto& info = done->request.blocks.front();
                if (bufs.size() != 1 || bufs[0].size() != done->request.bytes) {
                    fail(done->request.address, info,
                         fmt::format("Received {} bytes for {} bytes at {} of block {}", bufs.empty() ? 0 : bufs[0].size(),
                                     done->request.bytes, done->request.offset, storage::name(storage::BlockId{info.id})));
                }
                store_range(done->request, bufs[0]);
            } else {
                for (std::size_t i = 0; i < bufs.size(); ++i) {
                    const auto& info = done->request.blocks[i];
                    if (bufs[i].size() != info.size) {
                        // Spark: a zero-size buffer is a fetch failure; so is any size the map status did not promise.
                        fail(done->request.address, info,
                             "Received " + std::to_string(bufs[i].size()) + " bytes for block " +
                                 storage::name(storage::BlockId{info.id}) + ", expected " + std::to_string(info.size));
                    }
                    metrics_.remote_bytes_read += bufs[i].size();
                    ++metrics_.remote_blocks_fetched;
                    ready_memory_bytes_ += bufs[i].size();
                    ready_.push_back(FetchedBlock{info, done->request.address, storage::BlockData::of(std::move(bufs[i]))});
                }
            }
            send_requests();
            continue;
        }
        if (!local_.empty()) {
            auto [address, info] = std::move(local_.front());
            local_.pop_front();
            storage::FileSegment seg;
            storage::BlockData data;
            try {
                seg = bm_.get_local_segment(storage::BlockId{info.id});
                data = storage::BlockData::open(seg);
            } catch (const std::exception& e) {
                fail(address, info, e.what());
            }
            if (seg.length != info.size) {
                fail(address, info, "Local block " + storage::name(storage::BlockId{info.id}) + " has " +
                                        std::to_string(seg.length) + " bytes, expected " + std::to_string(info.size));
            }
            metrics_.local_bytes_read += seg.length;
            ++metrics_.local_blocks_fetched;
            update_gauge();
            return FetchedBlock{info, address, std::move(data)};
        }
        if (requests_in_flight_ == 0 && pending_.empty() && deferred_.empty()) {
            update_gauge();
            return std::nullopt;
        }
        send_requests();
    }
}

void ShuffleBlockFetcherIterator::throw_corrupt(const FetchedBlock& block, const std::string& why) {
    const auto& info = block.info;
    const std::string name = storage::name(storage::BlockId{info.id});
    auto log = log::get("shuffle");
    if (!options_.checksum_enabled) {
        fail(block.address, info, fmt::format("Block {} is corrupt: {}", name, why));
    }
    // Spark's diagnoseCorruption: the checksum of the bytes as received, compared by the block's
    // server with the bytes on its disk and the writer's value.
    log->info("Block {} from {} does not decode ({}); start corruption diagnosis", name, block.address.to_string(), why);
    auto start = std::chrono::steady_clock::now();
    storage::CorruptionCause cause = storage::CorruptionCause::unknown_issue;
    if (!ShuffleChecksum::of(options_.checksum_algorithm)) {
        cause = storage::CorruptionCause::unsupported_checksum_algorithm;
    } else {
        try {
            std::uint64_t checksum = checksum_of(block.data, options_.checksum_algorithm);
            cause = bm_.diagnose_shuffle_corruption(block.address, info.id, checksum, options_.checksum_algorithm);
        } catch (const std::exception& e) {
            log->warn("Unable to diagnose the corruption cause of the corrupted block {}: {}", name, e.what());
        }
    }
    auto message = corruption_message(name, cause, options_.checksum_algorithm);
    log->info("Finished corruption diagnosis in {} ms. {}", ns_since(start) / 1000000, message);
    fail(block.address, info, message);
}

}  // namespace ember::shuffle
