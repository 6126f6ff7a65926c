// SPDX-License-Identifier: Apache-2.0
#include "storage/block_manager.hpp"

#include "rpc/log.hpp"
#include "storage/block_transfer_messages.capnp.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

namespace ember::storage {
namespace {

std::vector<std::string> split_dirs(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) {
        if (!item.empty()) out.push_back(item);
    }
    if (out.empty()) out.push_back("/tmp");
    return out;
}

/// Serves FetchBlocks: replies with the sizes and sends the file segments as the raw body.
class BlockRpcServer final : public rpc::RpcEndpoint {
public:
    explicit BlockRpcServer(BlockManager& bm) : bm_(bm) {}

    void receive_and_reply(const rpc::Message& msg, rpc::RpcCallContext ctx) override {
        auto req = msg.get<wire::FetchBlocks>();
        std::vector<rpc::FileRegion> regions;
        regions.reserve(req.getBlockIds().size());
        for (auto text : req.getBlockIds()) {
            std::string_view name(text.begin(), text.size());
            auto id = parse_block_id(name);
            if (!id) {
                ctx.send_failure(fmt::format("Failed to parse {} into a block ID", name));
                return;
            }
            FileSegment seg;
            try {
                seg = bm_.get_local_segment(*id);
            } catch (const std::exception& e) {
                ctx.send_failure(fmt::format("{} (at {})", e.what(), bm_.id().to_string()));
                return;
            }
            auto file = rpc::FileHandle::open_read(seg.path);
            if (!file) {
                ctx.send_failure(fmt::format("Block {}: cannot open {}: {} (at {})", name, seg.path,
                                             std::strerror(errno), bm_.id().to_string()));
                return;
            }
            regions.push_back(rpc::FileRegion{std::move(file), seg.offset, seg.length});
        }
        auto reply = rpc::OutgoingMessage::make<wire::BlocksFetched>();
        auto sizes = reply.payload<wire::BlocksFetched>().initSizes(static_cast<unsigned>(regions.size()));
        for (unsigned i = 0; i < regions.size(); ++i) sizes.set(i, regions[i].length);
        for (auto& r : regions) reply.add_body(std::move(r));
        ctx.reply(std::move(reply));
    }

private:
    BlockManager& bm_;
};

}  // namespace

std::string BlockManagerId::to_string() const {
    return fmt::format("BlockManagerId({}, {}, {})", executor_id, host, port);
}

BlockManager::BlockManager(std::string executor_id, rpc::RpcEnv& env, const Conf& conf)
    : env_(env),
      id_{std::move(executor_id), env.address().host, env.address().port},
      disk_(split_dirs(conf.get("ember.local.dir", "/tmp")),
            static_cast<int>(conf.get_int("ember.diskStore.subDirectories", 64))),
      fetch_timeout_(rpc::RpcTimeout::from(conf, {"ember.shuffle.io.connectionTimeout", "ember.network.timeout"},
                                           "120s")) {}

BlockManager::~BlockManager() { stop(); }

void BlockManager::initialize() {
    if (initialized_) return;
    initialized_ = true;
    env_.setup_endpoint(std::string(kEndpointName), std::make_unique<BlockRpcServer>(*this)).value();
}

FileSegment BlockManager::get_local_segment(const BlockId& id) {
    if (auto* s = std::get_if<ShuffleBlockId>(&id)) {
        auto* r = resolver_.load();
        if (!r) throw std::runtime_error("Block " + name(id) + ": no shuffle block resolver");
        return r->get_block_data(*s);
    }
    throw std::runtime_error("Block " + name(id) + " not found");
}

ManagedBuffer BlockManager::get_local_bytes(const BlockId& id) {
    FileSegment seg = get_local_segment(id);
    int fd = ::open(seg.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        throw std::runtime_error(fmt::format("Block {}: cannot open {}: {}", name(id), seg.path, std::strerror(errno)));
    }
    auto buf = std::make_shared<rpc::Bytes>(static_cast<std::size_t>(seg.length));
    std::uint64_t done = 0;
    while (done < seg.length) {
        ssize_t n = ::pread(fd, buf->data() + done, seg.length - done, static_cast<off_t>(seg.offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = errno;
            ::close(fd);
            throw std::runtime_error(fmt::format("Block {}: cannot read {} bytes at {} of {}: {}", name(id),
                                                 seg.length, seg.offset, seg.path,
                                                 n == 0 ? "file is shorter than its index says" : std::strerror(err)));
        }
        done += static_cast<std::uint64_t>(n);
    }
    ::close(fd);
    return ManagedBuffer{buf, buf->span()};
}

void BlockManager::fetch_blocks(const BlockManagerId& from, const std::vector<BlockId>& ids, FetchCallback done) {
    auto ref = env_.endpoint_ref(rpc::RpcAddress{from.host, from.port}, std::string(kEndpointName));
    auto msg = rpc::OutgoingMessage::make<wire::FetchBlocks>();
    auto list = msg.payload<wire::FetchBlocks>().initBlockIds(static_cast<unsigned>(ids.size()));
    for (unsigned i = 0; i < ids.size(); ++i) list.set(i, name(ids[i]));
    std::size_t expected = ids.size();
    ref.ask(std::move(msg), fetch_timeout_, [done = std::move(done), expected](rpc::RpcResult<rpc::Message> r) {
        if (!r) {
            done(r.error());
            return;
        }
        auto reply = r->try_get<wire::BlocksFetched>();
        if (!reply || reply->getSizes().size() != expected) {
            done(rpc::RpcError{rpc::RpcErrc::unexpected_message, "malformed BlocksFetched reply"});
            return;
        }
        auto owner = std::make_shared<rpc::Message>(*r);
        auto body = owner->body();
        std::vector<ManagedBuffer> out;
        out.reserve(expected);
        std::size_t pos = 0;
        for (auto size : reply->getSizes()) {
            if (pos + size > body.size()) {
                done(rpc::RpcError{rpc::RpcErrc::protocol_error, "BlocksFetched sizes exceed its body"});
                return;
            }
            out.push_back(ManagedBuffer{owner, body.subspan(pos, size)});
            pos += size;
        }
        done(std::move(out));
    });
}

void BlockManager::stop() { disk_.stop(); }

}  // namespace ember::storage
