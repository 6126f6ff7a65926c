// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Shared by the libFuzzer targets of test/fuzz: opening fuzzer bytes as a capnp message with the
/// limits of a received frame, reading every message type the driver and executors decode the way
/// their endpoints do, and the line between a decoder that rejects bad bytes (an exception ember
/// catches) and a crash.
///
/// What a decoder may do with hostile bytes: throw kj::Exception (capnp: a pointer out of
/// bounds, over the traversal limit), ember::DecodeError, rpc::RpcException or another
/// std::runtime_error naming the problem (each is caught where the process decodes), or return
/// an error value. Anything else is a finding: a sanitizer report, a std::logic_error
/// (length_error, out_of_range: a size taken from the input unchecked), std::bad_alloc, a hang.
/// rejecting() lets the first kind through and anything else escape to libFuzzer, which reports
/// it as a crash with its reproducer.

#include "rpc/message.hpp"
#include "rpc/message_data.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>
#include <kj/exception.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ember::fuzz {

/// The largest frame the targets accept (ember.rpc.message.maxSize is 128 MiB; the fuzzer's
/// inputs are far smaller, and a smaller limit keeps the traversal limit, and so each run, short).
inline constexpr std::size_t kMaxFrameBytes = 1 << 20;

/// Runs `decode`; an exception of a kind ember catches where it decodes is a rejection (returns
/// false); anything else propagates and crashes the run.
template <class F>
bool rejecting(F&& decode) {
    try {
        decode();
        return true;
    } catch (const kj::Exception&) {
    } catch (const std::runtime_error&) {  // DecodeError, RpcException, FetchFailed, unknown type
    }
    return false;
}

/// Fuzzer bytes as a capnp message in stream framing (segment table, then segments), read with
/// the reader options of a received frame. The bytes are copied into word-aligned storage first,
/// padded with zeros to a whole word.
/// Threading: single-threaded.
class CapnpInput {
public:
    explicit CapnpInput(std::span<const std::uint8_t> bytes);
    /// The root as a T; capnp throws kj::Exception if the segment table or root is bad.
    template <class T>
    typename T::Reader root() {
        return reader().getRoot<T>();
    }
    capnp::MessageReader& reader();

private:
    kj::Array<capnp::word> words_;
    std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
};

/// A payload to read: a received Message's, or a root of fuzzer bytes read in place (no copy, so
/// capnp's reader meets the input's own layout).
struct Payload {
    capnp::AnyPointer::Reader payload;
    std::uint64_t type_id = 0;
    const rpc::Message* message = nullptr;  ///< set for a Message (its body, Message::try_get)

    template <class T>
    std::optional<typename T::Reader> try_get() const {
        if (message)
            return message->try_get<T>();
        if (type_id != capnp::typeId<T>())
            return std::nullopt;
        return payload.getAs<T>();
    }
};

/// Reads a payload as the endpoint that handles its type does: try_get<T> for every message type
/// of the cluster, block manager, block transfer, map output and envelope protocols, then the
/// conversion functions the driver, the executors and the BlockManagers call on it. Throws what
/// those throw (see rejecting()).
void read_payload(const Payload& p);
/// read_payload of a received message (Message::try_get<T>).
void read_message(const rpc::Message& msg);

/// A Message whose payload is a copy of `payload` (a root of fuzzer bytes) as a T, with `body`
/// as its raw body: what an endpoint gets for a frame carrying it.
template <class T>
rpc::Message make_message(typename T::Reader payload, std::span<const std::uint8_t> body);

/// Helpers for the templates above.
namespace detail {
rpc::Message localize(rpc::OutgoingMessage m, std::span<const std::uint8_t> body);
}

template <class T>
rpc::Message make_message(typename T::Reader payload, std::span<const std::uint8_t> body) {
    auto m = rpc::OutgoingMessage::make<T>();
    m.data().envelope.getPayload().template setAs<T>(payload);
    return detail::localize(std::move(m), body);
}

/// The stage binaries of a small job, encoded as the DAGScheduler encodes them for LaunchTask:
/// text_file(input) -> flat_map -> map -> filter -> reduce_by_key, its ShuffleMapStage and the
/// collect() ResultStage after it, and a parallelize -> map_partitions -> group_by_key one. Runs a
/// local[1] SparkContext. The RDD, dependency and function types of these jobs are registered in
/// every target (this file instantiates them), so fuzz_stage_binary decodes into real types.
std::vector<std::string> seed_stage_binaries(const std::string& input_file);

/// Splits fuzzer bytes into a selector byte and the rest.
struct Selector {
    std::uint8_t which = 0;
    std::span<const std::uint8_t> rest;
    Selector(const std::uint8_t* data, std::size_t size)
        : which(size ? data[0] : 0), rest(size ? data + 1 : data, size ? size - 1 : 0) {}
};

}  // namespace ember::fuzz
