// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: block transfer (storage/block_transfer_messages.capnp) as the BlockManager's
// server reads FetchBlocks (block ids, ranges) and its client reads BlocksFetched and the raw
// body after it (storage/block_transfer_codec.cpp), and block id parsing (parse_block_id).
//
// Input: byte 0 picks the case: 0 FetchBlocks, 1 BlocksFetched (then 2 bytes: the length of the
// capnp part, little-endian; the rest is the body), 2 a block id string.
#include "storage/block_id.hpp"
#include "storage/block_transfer_codec.hpp"
#include "storage/block_transfer_messages.capnp.h"
#include "test/fuzz/fuzz_support.hpp"

#include <cstdlib>

using namespace ember;
namespace stw = ember::storage::wire;

namespace {

// A parsed id prints to a name that parses to the same id.
void check_block_id(std::string_view s) {
    auto id = storage::parse_block_id(s);
    if (!id)
        return;
    std::string n = storage::name(*id);
    auto again = storage::parse_block_id(n);
    if (!again || storage::name(*again) != n)
        std::abort();
    if (n.find('/') != std::string::npos)
        std::abort();  // it names a file in the local dirs
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Selector sel(data, size);
    switch (sel.which % 3) {
        case 0: {
            fuzz::CapnpInput in(sel.rest);
            fuzz::rejecting([&] {
                auto req = storage::read_fetch_blocks(in.root<stw::FetchBlocks>());
                if (!req)
                    return;
                for (auto& b : *req) {
                    check_block_id(b.name);
                    if (b.range)
                        (void)b.range->within(1 << 20);
                }
            });
            break;
        }
        case 1: {
            if (sel.rest.size() < 2)
                break;
            std::size_t capnp_len =
                std::min<std::size_t>(sel.rest[0] | (sel.rest[1] << 8), sel.rest.size() - 2);
            fuzz::CapnpInput in(sel.rest.subspan(2, capnp_len));
            auto body = sel.rest.subspan(2 + capnp_len);
            fuzz::rejecting([&] {
                auto reply = in.root<stw::BlocksFetched>();
                auto msg = fuzz::make_message<stw::BlocksFetched>(reply, body);
                std::size_t n = reply.getSizes().size();
                for (std::size_t expected : {n, n + 1}) {
                    auto blocks = storage::read_blocks_fetched(msg, expected);
                    if (!blocks)
                        continue;
                    std::size_t total = 0;
                    for (auto& b : *blocks) {
                        // Touch every byte handed out: ASan checks they are in the body.
                        for (auto c : b.bytes) total += static_cast<std::size_t>(c);
                    }
                    (void)total;
                }
            });
            break;
        }
        default:
            check_block_id(
                std::string_view(reinterpret_cast<const char*>(sel.rest.data()), sel.rest.size()));
            break;
    }
    return 0;
}
