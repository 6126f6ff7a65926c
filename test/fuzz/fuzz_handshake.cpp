// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the connection handshake of rpc/security (AuthHandshake, the first bytes
// every connection of an env with ember.authenticate reads from its peer) and the encrypted
// records that follow it (RecordCipher), as the transport reads them.
//
// Input: byte 0 selects the mode:
//   bit 0: 0 = the server side reads the bytes (what an ember port receives from anyone), 1 = the
//          client side (what a connecting env receives from whatever answers);
//   bit 1: the side under test asks for encryption (ember.network.crypto.enabled);
//   bit 2: first run an honest handshake between two sides that share the secret, then read the
//          rest as the encrypted records of the session (header, length check, open), in the
//          pieces the transport would: the fuzzer drives what follows authentication.
// Without bit 2 the rest is fed to the side under test in the sizes wants() asks for; the
// failure-record parser reads the rest as well.
#include "rpc/security/auth_handshake.hpp"
#include "rpc/security/record_cipher.hpp"
#include "test/fuzz/fuzz_support.hpp"

#include <cstring>
#include <vector>

using namespace ember;
using namespace ember::rpc::security;

namespace {

SecurityConfig config(bool encrypt) {
    SecurityConfig c;
    c.authenticate = true;
    c.secret = "fuzz-secret";
    c.encrypt = encrypt;
    return c;
}

/// Moves the output of `from` into `to` until neither has anything to say.
void pump(AuthHandshake& a, AuthHandshake& b) {
    for (int round = 0; round < 8; ++round) {
        bool moved = false;
        for (auto [from, to] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
            auto out = from->take_output();
            std::size_t pos = 0;
            while (pos < out.size() && to->wants() > 0) {
                std::size_t n = std::min(to->wants(), out.size() - pos);
                to->feed(std::span<const std::byte>(out.data() + pos, n));
                pos += n;
                moved = true;
            }
        }
        if (!moved) return;
    }
}

/// The rest of the input as the encrypted records of a session: header, announced length
/// checked, then the whole record opened, as TransportClient's sealed read path does.
void read_records(const AuthHandshake& receiver, std::span<const std::byte> in) {
    RecordCipher cipher(receiver.keys().recv_key, receiver.keys().recv_iv);
    std::vector<std::byte> plain(RecordCipher::kMaxPlaintext);
    while (in.size() >= RecordCipher::kHeader) {
        auto len = RecordCipher::plaintext_length(in.first<RecordCipher::kHeader>());
        if (!len) return;  // the connection is closed
        std::size_t record = *len + RecordCipher::kOverhead;
        if (in.size() < record) return;
        if (!cipher.open(in.first(record), plain.data())) return;
        in = in.subspan(record);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Selector sel(data, size);
    bool client = sel.which & 1;
    bool encrypt = sel.which & 2;
    auto side = client ? AuthHandshake::Side::client : AuthHandshake::Side::server;
    if (sel.which & 4) {
        // An honest session, then hostile records to the side under test.
        AuthHandshake tested(side, config(encrypt), "fuzz peer");
        AuthHandshake honest(client ? AuthHandshake::Side::server : AuthHandshake::Side::client, config(true),
                             "fuzz peer");
        pump(tested, honest);
        if (!tested.done() || !tested.encrypted()) __builtin_trap();  // an honest handshake must succeed
        read_records(tested, std::as_bytes(sel.rest));
        return 0;
    }
    (void)parse_failure_record(std::as_bytes(sel.rest));
    AuthHandshake tested(side, config(encrypt), "fuzz peer");
    (void)tested.take_output();
    auto in = std::as_bytes(sel.rest);
    while (!in.empty() && tested.wants() > 0) {
        std::size_t n = std::min(tested.wants(), in.size());
        if (n < tested.wants()) return 0;  // the connection ends before the message does
        tested.feed(in.first(n));
        (void)tested.take_output();
        in = in.subspan(n);
    }
    if (tested.done() && tested.encrypted()) read_records(tested, in);
    return 0;
}
