// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ping(n, text): the test schema's Ping as an outgoing message, which the RPC tests send.

#include "rpc/message.hpp"
#include "test/support/test_messages.capnp.h"

#include <cstdint>
#include <string>

namespace ember::test {

inline rpc::OutgoingMessage ping(std::uint64_t n, const std::string& text = "") {
    return rpc::OutgoingMessage::make<wire::Ping>([&](wire::Ping::Builder b) {
        b.setN(n);
        b.setText(text);
    });
}

}  // namespace ember::test
