// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the MapOutputTracker protocol (shuffle/map_output_messages.capnp): the
// master's reply read by a worker (shuffle::read_map_output_statuses, MapStatus from_wire) and
// then by a reducer (MapOutputTracker::get_map_sizes_by_executor_id), and the request as the
// master's endpoint reads it.
//
// Input: byte 0 picks the message (odd: GetMapOutputStatuses); the rest is a capnp message in
// stream framing whose root is that message.
#include "shuffle/map_output_messages.capnp.h"
#include "test/fuzz/fuzz_support.hpp"

using namespace ember;
namespace shw = ember::shuffle::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Selector sel(data, size);
    fuzz::CapnpInput in(sel.rest);
    fuzz::rejecting([&] {
        auto root = in.reader().getRoot<capnp::AnyPointer>();
        std::uint64_t type = (sel.which & 1) ? capnp::typeId<shw::GetMapOutputStatuses>()
                                             : capnp::typeId<shw::MapOutputStatuses>();
        fuzz::read_payload(fuzz::Payload{root, type});
    });
    return 0;
}
