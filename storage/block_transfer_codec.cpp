// SPDX-License-Identifier: Apache-2.0
#include "storage/block_transfer_codec.hpp"

#include <fmt/format.h>
#include <kj/exception.h>

#include <memory>
#include <string_view>

namespace ember::storage {

std::string_view to_string(CorruptionCause c) noexcept {
    switch (c) {
        case CorruptionCause::disk_issue: return "DISK_ISSUE";
        case CorruptionCause::network_issue: return "NETWORK_ISSUE";
        case CorruptionCause::checksum_verify_pass: return "CHECKSUM_VERIFY_PASS";
        case CorruptionCause::unsupported_checksum_algorithm: return "UNSUPPORTED_CHECKSUM_ALGORITHM";
        case CorruptionCause::unknown_issue: break;
    }
    return "UNKNOWN_ISSUE";
}

rpc::RpcResult<std::vector<BlockRequest>> read_fetch_blocks(wire::FetchBlocks::Reader req) {
    try {
        auto ids = req.getBlockIds();
        auto ranges = req.getRanges();
        if (ranges.size() != 0 && ranges.size() != ids.size()) {
            return rpc::RpcError{
                rpc::RpcErrc::protocol_error,
                fmt::format("FetchBlocks has {} ranges for {} blocks", ranges.size(), ids.size())};
        }
        std::vector<BlockRequest> out;
        out.reserve(ids.size());
        for (unsigned i = 0; i < ids.size(); ++i) {
            auto text = ids[i];
            std::string_view name(text.begin(), text.size());
            auto id = parse_block_id(name);
            if (!id) {
                return rpc::RpcError{rpc::RpcErrc::protocol_error,
                                     fmt::format("Failed to parse {} into a block ID", name)};
            }
            BlockRequest r{std::move(*id), std::string(name), std::nullopt};
            if (ranges.size() != 0)
                r.range = ByteRange{ranges[i].getOffset(), ranges[i].getLength()};
            out.push_back(std::move(r));
        }
        return out;
    } catch (const kj::Exception& e) {
        return rpc::RpcError{rpc::RpcErrc::protocol_error,
                             fmt::format("malformed FetchBlocks: {}", e.getDescription().cStr())};
    }
}

rpc::RpcResult<std::vector<ManagedBuffer>> read_blocks_fetched(const rpc::Message& reply,
                                                               std::size_t expected) {
    try {
        auto fetched = reply.try_get<wire::BlocksFetched>();
        if (!fetched || fetched->getSizes().size() != expected) {
            return rpc::RpcError{rpc::RpcErrc::unexpected_message, "malformed BlocksFetched reply"};
        }
        auto owner = std::make_shared<rpc::Message>(reply);
        auto body = owner->body();
        std::vector<ManagedBuffer> out;
        out.reserve(expected);
        std::size_t pos = 0;
        for (std::uint64_t size : fetched->getSizes()) {
            // Compared without pos + size, which a hostile size makes wrap around.
            if (size > body.size() - pos) {
                return rpc::RpcError{rpc::RpcErrc::protocol_error,
                                     "BlocksFetched sizes exceed its body"};
            }
            out.push_back(ManagedBuffer{owner, body.subspan(pos, static_cast<std::size_t>(size))});
            pos += static_cast<std::size_t>(size);
        }
        return out;
    } catch (const kj::Exception& e) {
        return rpc::RpcError{
            rpc::RpcErrc::protocol_error,
            fmt::format("malformed BlocksFetched reply: {}", e.getDescription().cStr())};
    }
}

rpc::RpcResult<UploadRequest> read_upload_block(const rpc::Message& msg,
                                                const std::function<std::uint64_t(const StorageLevel&)>& max_bytes) {
    auto refuse = [](std::string why) { return rpc::RpcError{rpc::RpcErrc::protocol_error, std::move(why)}; };
    try {
        auto up = msg.try_get<wire::UploadBlock>();
        if (!up) return rpc::RpcError{rpc::RpcErrc::unexpected_message, "expected an UploadBlock, got " + msg.type_name()};
        auto text = up->getBlockId();
        std::string name(text.begin(), text.size());
        auto id = parse_block_id(name);
        if (!id) return refuse(fmt::format("UploadBlock refused: failed to parse {} into a block ID", name));
        auto* rdd = std::get_if<RddBlockId>(&*id);
        if (!rdd) {
            return refuse(fmt::format("UploadBlock of {} refused: only RDD blocks (rdd_<rdd>_<partition>) are "
                                      "replicated",
                                      name));
        }
        std::uint8_t flags = up->getLevelFlags();
        StorageLevel level = StorageLevel::from_int(flags, up->getReplication());
        if (flags > 0x0f || !level.is_valid()) {
            return refuse(fmt::format("UploadBlock of {} refused: invalid storage level (flags {:#x}, {} replicas)",
                                      name, flags, up->getReplication()));
        }
        if (level.replication != 1) {
            return refuse(fmt::format("UploadBlock of {} refused: a replica is stored with replication 1, not {}", name,
                                      level.replication));
        }
        std::uint64_t size = up->getSize();
        auto body = msg.body();
        if (size != body.size()) {
            return refuse(
                fmt::format("UploadBlock of {} refused: it declares {} bytes but carries {}", name, size, body.size()));
        }
        std::uint64_t limit = max_bytes(level);
        if (size > limit) {
            return refuse(fmt::format("UploadBlock of {} refused: {} bytes exceed the {} bytes this BlockManager can "
                                      "store at {}",
                                      name, size, limit, level.description()));
        }
        auto owner = std::make_shared<rpc::Message>(msg);
        return UploadRequest{*rdd, std::move(name), level, ManagedBuffer{owner, owner->body()}};
    } catch (const kj::Exception& e) {
        return refuse(fmt::format("malformed UploadBlock: {}", e.getDescription().cStr()));
    }
}

rpc::OutgoingMessage make_upload_block(const BlockId& id, const StorageLevel& level, const ManagedBuffer& bytes) {
    auto msg = rpc::OutgoingMessage::make<wire::UploadBlock>([&](wire::UploadBlock::Builder b) {
        b.setBlockId(name(id));
        b.setLevelFlags(level.to_int());
        b.setReplication(static_cast<std::uint8_t>(level.replication));
        b.setSize(bytes.size());
    });
    if (bytes.size() > 0) msg.add_body(rpc::SharedBytes{bytes.owner, bytes.bytes});
    return msg;
}

}  // namespace ember::storage
