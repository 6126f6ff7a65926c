// SPDX-License-Identifier: Apache-2.0
#include "shuffle/shuffle_block_fetcher_iterator.hpp"

#include <algorithm>
#include <chrono>
#include <random>

namespace ember::shuffle {

ShuffleBlockFetcherIterator::ShuffleBlockFetcherIterator(storage::BlockManager& block_manager,
                                                         BlocksByAddress blocks, std::uint64_t max_bytes_in_flight,
                                                         ShuffleReadMetrics& metrics)
    : bm_(block_manager),
      metrics_(metrics),
      max_bytes_in_flight_(std::max<std::uint64_t>(max_bytes_in_flight, 1)),
      shared_(std::make_shared<Shared>()) {
    const std::uint64_t target = std::max<std::uint64_t>(max_bytes_in_flight_ / 5, 1);
    for (auto& [address, infos] : blocks) {
        if (address.executor_id == bm_.id().executor_id) {
            for (auto& b : infos) local_.emplace_back(address, b);
            continue;
        }
        Request cur{address, {}, 0};
        for (auto& b : infos) {
            cur.blocks.push_back(b);
            cur.bytes += b.size;
            if (cur.bytes >= target) {
                pending_.push_back(std::move(cur));
                cur = Request{address, {}, 0};
            }
        }
        if (!cur.blocks.empty()) pending_.push_back(std::move(cur));
    }
    // Random order spreads the load over the serving executors (Spark shuffles requests too).
    std::mt19937 rng(std::random_device{}());
    std::shuffle(pending_.begin(), pending_.end(), rng);
    send_requests();
}

ShuffleBlockFetcherIterator::~ShuffleBlockFetcherIterator() = default;

void ShuffleBlockFetcherIterator::send_requests() {
    while (!pending_.empty()) {
        auto& req = pending_.front();
        if (bytes_in_flight_ > 0 && bytes_in_flight_ + req.bytes > max_bytes_in_flight_) break;
        Request r = std::move(req);
        pending_.pop_front();
        bytes_in_flight_ += r.bytes;
        ++requests_in_flight_;
        std::vector<storage::BlockId> ids;
        ids.reserve(r.blocks.size());
        for (auto& b : r.blocks) ids.emplace_back(b.id);
        auto address = r.address;
        bm_.fetch_blocks(address, ids,
                         [shared = shared_, r = std::move(r)](rpc::RpcResult<std::vector<storage::ManagedBuffer>> res) mutable {
                             {
                                 std::lock_guard lk(shared->mu);
                                 shared->results.push_back(Result{std::move(r), std::move(res)});
                             }
                             shared->cv.notify_one();
                         });
    }
}

void ShuffleBlockFetcherIterator::fail(const storage::BlockManagerId& address, const BlockInfo& info,
                                       const std::string& why) {
    throw FetchFailedException(address, info.id.shuffle_id, info.id.map_id, info.map_index, info.id.reduce_id, why);
}

std::optional<FetchedBlock> ShuffleBlockFetcherIterator::next() {
    for (;;) {
        if (!ready_.empty()) {
            FetchedBlock b = std::move(ready_.front());
            ready_.pop_front();
            return b;
        }
        // A finished remote request, if any, without waiting.
        std::optional<Result> done;
        {
            std::unique_lock lk(shared_->mu);
            if (shared_->results.empty() && local_.empty() && requests_in_flight_ > 0) {
                auto start = std::chrono::steady_clock::now();
                shared_->cv.wait(lk, [&] { return !shared_->results.empty(); });
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
            --requests_in_flight_;
            bytes_in_flight_ -= done->request.bytes;
            if (!done->buffers) {
                fail(done->request.address, done->request.blocks.front(),
                     "Failed to fetch blocks from " + done->request.address.to_string() + ": " +
                         done->buffers.error().message);
            }
            auto& bufs = *done->buffers;
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
                ready_.push_back(FetchedBlock{info, done->request.address, std::move(bufs[i])});
            }
            send_requests();
            continue;
        }
        if (!local_.empty()) {
            auto [address, info] = std::move(local_.front());
            local_.pop_front();
            storage::ManagedBuffer buf;
            try {
                buf = bm_.get_local_bytes(storage::BlockId{info.id});
            } catch (const std::exception& e) {
                fail(address, info, e.what());
            }
            if (buf.size() != info.size) {
                fail(address, info, "Local block " + storage::name(storage::BlockId{info.id}) + " has " +
                                        std::to_string(buf.size()) + " bytes, expected " + std::to_string(info.size));
            }
            metrics_.local_bytes_read += buf.size();
            ++metrics_.local_blocks_fetched;
            return FetchedBlock{info, address, std::move(buf)};
        }
        if (requests_in_flight_ == 0 && pending_.empty()) return std::nullopt;
        send_requests();
    }
}

}  // namespace ember::shuffle
