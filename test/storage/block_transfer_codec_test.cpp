// SPDX-License-Identifier: Apache-2.0
// How a BlockManager reads FetchBlocks (serving) and BlocksFetched (fetching): hostile values
// are refused with a message, never trusted (found by test/fuzz/fuzz_block_transfer).
#include "storage/block_transfer_codec.hpp"
#include "rpc/message_data.hpp"

#include <capnp/message.h>
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using namespace ember;
using namespace ember::storage;

namespace {

// A BlocksFetched reply with these sizes and body, as the asker receives it.
rpc::Message blocks_fetched(const std::vector<std::uint64_t>& sizes, const std::string& body) {
    auto m = rpc::OutgoingMessage::make<wire::BlocksFetched>([&](wire::BlocksFetched::Builder b) {
        auto list = b.initSizes(static_cast<unsigned>(sizes.size()));
        for (unsigned i = 0; i < sizes.size(); ++i) list.set(i, sizes[i]);
    });
    if (!body.empty())
        m.add_body(rpc::Bytes::copy_of(std::string_view(body)));
    return rpc::detail::MessageData::to_message(rpc::detail::localize(m.release()).value());
}

}  // namespace

TEST_CASE("A BlocksFetched reply is split into its blocks in request order",
          "[storage][block_transfer]") {
    auto blocks = read_blocks_fetched(blocks_fetched({3, 0, 2}, "abcde"), 3);
    REQUIRE(blocks.has_value());
    REQUIRE(blocks->size() == 3);
    CHECK((*blocks)[0].view() == "abc");
    CHECK((*blocks)[1].view().empty());
    CHECK((*blocks)[2].view() == "de");
    CHECK_FALSE(read_blocks_fetched(blocks_fetched({3, 2}, "abcde"), 3).has_value());
}

TEST_CASE("BlocksFetched sizes that wrap around past the body are refused",
          "[storage][block_transfer]") {
    // 2 + (2^64 - 1) wraps to 1, which fits a 5-byte body: the old check let it through and
    // handed out a span of 2^64 - 1 bytes.
    auto blocks = read_blocks_fetched(
        blocks_fetched({2, std::numeric_limits<std::uint64_t>::max()}, "abcde"), 2);
    REQUIRE_FALSE(blocks.has_value());
    CHECK(blocks.error().message == "BlocksFetched sizes exceed its body");
    CHECK_FALSE(read_blocks_fetched(blocks_fetched({6}, "abcde"), 1).has_value());
}

TEST_CASE("FetchBlocks is read with one range per block or none", "[storage][block_transfer]") {
    capnp::MallocMessageBuilder mb;
    auto req = mb.initRoot<wire::FetchBlocks>();
    auto ids = req.initBlockIds(2);
    ids.set(0, "shuffle_0_5_3");
    ids.set(1, "rdd_2_9");
    auto ok = read_fetch_blocks(req.asReader());
    REQUIRE(ok.has_value());
    REQUIRE(ok->size() == 2);
    CHECK((*ok)[0].name == "shuffle_0_5_3");
    CHECK_FALSE((*ok)[0].range);

    auto ranges = req.initRanges(1);
    ranges[0].setOffset(1);
    auto mismatched = read_fetch_blocks(req.asReader());
    REQUIRE_FALSE(mismatched.has_value());
    CHECK(mismatched.error().message == "FetchBlocks has 1 ranges for 2 blocks");

    ids = req.initBlockIds(1);
    ids.set(0, "temp_shuffle_/etc/passwd");
    auto bad = read_fetch_blocks(req.asReader());
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().message == "Failed to parse temp_shuffle_/etc/passwd into a block ID");
}

TEST_CASE("A byte range lies within a block without overflowing", "[storage][block_transfer]") {
    CHECK(ByteRange{0, 10}.within(10));
    CHECK(ByteRange{10, 0}.within(10));
    CHECK_FALSE(ByteRange{5, 6}.within(10));
    CHECK_FALSE(ByteRange{11, 0}.within(10));
    CHECK_FALSE(ByteRange{1, std::numeric_limits<std::uint64_t>::max()}.within(10));
}
