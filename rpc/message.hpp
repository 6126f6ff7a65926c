// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Message (a received message, read through typed capnp readers) and OutgoingMessage (one being
/// built). Both wrap one wire frame: an Envelope whose payload is a capnp struct identified by
/// its 64-bit type id, plus an optional raw body.

#include "rpc/bytes.hpp"
#include "rpc/rpc_address.hpp"
#include "rpc/rpc_envelope.capnp.h"
#include "rpc/rpc_error.hpp"

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/schema.h>

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace ember::rpc {

class RpcEndpointRef;

namespace detail {
struct MessageData;
struct OutgoingData;
class EnvCore;
/// Records the display name of a capnp struct type for messages and errors.
void register_type_name(std::uint64_t id, std::string_view display_name);
/// Records a capnp struct type's schema: its name, and its fields for to_text().
void register_type(capnp::Schema schema);
template <class T>
void remember_type() {
    static const bool once = [] {
        register_type(capnp::Schema::from<T>());
        return true;
    }();
    (void)once;
}
}  // namespace detail

/// The capnp struct name for a type id ("LaunchTask"), or its hex id if this process never used
/// that type ("0x9c1f...").
std::string type_name(std::uint64_t type_id);

/// A payload in Cap'n Proto's text form after its struct name, for test failures and logs:
/// `Pong(n = 7)`. Types this process never used print as their hex id and word count
/// (`0x9c1f...(3 words)`). Long renderings are cut at `max_chars` with "...".
std::string to_text(std::uint64_t type_id, capnp::AnyPointer::Reader payload, std::size_t max_chars = 1000);

/// A message received by an endpoint (or a reply received by an asker).
///
/// Read it with `try_get<T>()`, which returns T's capnp Reader if the payload is a T. The raw
/// body, if the sender attached one, is `body()`. A Message is a cheap, copyable handle to an
/// immutable frame; keep a copy to use it after the handler returns.
///
/// Threading: immutable; copies may be read from any thread.
class Message {
public:
    Message() = default;

    explicit operator bool() const noexcept { return data_ != nullptr; }
    /// capnp type id of the payload struct.
    std::uint64_t type_id() const noexcept { return type_id_; }
    /// The payload's struct name, for logs and errors.
    std::string type_name() const { return rpc::type_name(type_id_); }
    /// The payload as text, `Pong(n = 7)` (see rpc::to_text), plus ` + <n> body bytes` if a
    /// body is attached.
    std::string text() const;

    template <class T>
    bool is() const noexcept {
        return type_id_ == capnp::typeId<T>();
    }
    /// T's reader if the payload is a T, else nullopt.
    template <class T>
    std::optional<typename T::Reader> try_get() const {
        detail::remember_type<T>();
        if (!is<T>()) return std::nullopt;
        return payload_.getAs<T>();
    }
    /// T's reader; throws RpcException(unexpected_message) naming both types if it is not a T.
    template <class T>
    typename T::Reader get() const {
        if (auto r = try_get<T>()) return *r;
        throw_wrong_type(capnp::typeId<T>());
    }
    /// The untyped payload.
    capnp::AnyPointer::Reader payload() const noexcept { return payload_; }

    /// The raw bytes that followed the frame (empty if none).
    std::span<const std::byte> body() const noexcept;
    /// Name of the sending endpoint, empty if sent from outside any endpoint.
    std::string_view sender_name() const noexcept;
    /// The sending env's address: its advertised address, or for a client-mode sender the
    /// socket's remote address.
    const RpcAddress& sender_address() const noexcept;
    /// A ref to the sending endpoint (empty name if unknown); asks through it reach a client-mode
    /// sender over the connection this message came on.
    RpcEndpointRef sender() const;
    /// Resolves an endpoint ref carried in this message's payload.
    RpcEndpointRef ref(rpc_wire::EndpointRef::Reader r) const;
    /// Like ref(), but bound to the connection this message came over: what is sent through it
    /// reaches the process that sent this message, never whoever listens at the address `r`
    /// names (the driver talks to an executor this way, over the connection the executor
    /// registered on). For a local message, ref().
    RpcEndpointRef connection_ref(rpc_wire::EndpointRef::Reader r) const;

    /// True if this message arrived over the connection `ref` uses now (its bound connection,
    /// or the one this env opened to its address). An endpoint uses it to obey only a given
    /// peer: with authentication on, the connection an env opened to its driver's address is
    /// the driver's, whatever an envelope claims. False for a local message.
    bool came_over(const RpcEndpointRef& ref) const;
    /// True if this message came over a connection (false: sent within this process).
    bool is_remote() const noexcept;
    /// The whole frame's envelope (kind, request id, sender, receiver), for protocol tests.
    rpc_wire::Envelope::Reader envelope() const;

private:
    friend struct detail::MessageData;
    friend class detail::EnvCore;
    friend class OutgoingMessage;
    [[noreturn]] void throw_wrong_type(std::uint64_t expected) const;

    std::shared_ptr<const detail::MessageData> data_;
    capnp::AnyPointer::Reader payload_;
    std::uint64_t type_id_ = 0;
};

/// A message under construction: build the payload through `payload<T>()` (or the fill
/// function of `make`), optionally attach a raw body, then hand it to send/ask/reply.
///
/// Threading: single-threaded until handed over; ownership moves with it.
class OutgoingMessage {
public:
    OutgoingMessage();
    ~OutgoingMessage();
    OutgoingMessage(OutgoingMessage&&) noexcept;
    OutgoingMessage& operator=(OutgoingMessage&&) noexcept;

    /// A message whose payload is a fresh T.
    template <class T>
    static OutgoingMessage make() {
        detail::remember_type<T>();
        OutgoingMessage m;
        m.init_payload(capnp::typeId<T>());
        m.payload_.initAs<T>();
        return m;
    }
    /// A message whose payload is a T filled by `fill(T::Builder)`.
    template <class T, class Fill>
    static OutgoingMessage make(Fill&& fill) {
        OutgoingMessage m = make<T>();
        fill(m.payload<T>());
        return m;
    }
    /// A copy of a received message, to send on unchanged: the same type id, the same payload
    /// (deep-copied) and the same body bytes (shared with `msg`, not copied). The envelope
    /// (kind, sender, receiver) is the new send's. RpcEndpointRef::forward uses it.
    static OutgoingMessage copy_of(const Message& msg);
    /// The payload as a T (it must have been made as a T).
    template <class T>
    typename T::Builder payload() {
        return payload_.getAs<T>();
    }
    /// The untyped payload, read-only.
    capnp::AnyPointer::Reader payload_reader() const { return payload_.asReader(); }
    /// The payload as text, `Ping(n = 7)` (see rpc::to_text).
    std::string text() const;

    std::uint64_t type_id() const noexcept { return type_id_; }

    /// Appends raw bytes to the body.
    void add_body(Bytes bytes);
    /// Appends bytes kept alive by their owner to the body, without copying them (the owner is
    /// held until the frame is written, or copied once for a local delivery).
    void add_body(SharedBytes bytes);
    /// Appends a file slice to the body; sent with sendfile(2), read with pread(2) when local.
    void add_body(FileRegion region);
    std::uint64_t body_size() const noexcept;
    /// Size of the capnp part on the wire (segment table and segments), without the body; the
    /// transport refuses frames over ember.rpc.message.maxSize.
    std::size_t frame_bytes() const;

    /// Internal state, for the RpcEnv's transport (not part of the user API).
    detail::OutgoingData& data() noexcept { return *d_; }
    std::unique_ptr<detail::OutgoingData> release() noexcept;

private:
    void init_payload(std::uint64_t type_id);

    std::unique_ptr<detail::OutgoingData> d_;
    capnp::AnyPointer::Builder payload_{nullptr};
    std::uint64_t type_id_ = 0;
};

/// Builds a message in one expression: `message<Ping>([](auto b) { b.setN(7); })` is
/// `OutgoingMessage::make<Ping>(...)`, and `message<Ack>()` an empty Ack. Fill runs at once on
/// the calling thread with T's capnp Builder.
template <class T, class Fill>
OutgoingMessage message(Fill&& fill) {
    return OutgoingMessage::make<T>(std::forward<Fill>(fill));
}
template <class T>
OutgoingMessage message() {
    return OutgoingMessage::make<T>();
}

/// Prints "<type name> (<n> body bytes)".
std::ostream& operator<<(std::ostream& os, const Message& m);

/// Writes `ref` into a capnp EndpointRef field.
void write_ref(rpc_wire::EndpointRef::Builder b, const RpcEndpointRef& ref);

}  // namespace ember::rpc
