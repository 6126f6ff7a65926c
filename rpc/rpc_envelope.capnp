# ember RpcEnv wire envelope.
#
# Every frame on an ember connection is one Cap'n Proto message in the standard stream framing
# (segment table, then segments; all little-endian, 8-byte words) whose root is an Envelope,
# optionally followed by `bodySize` raw bytes (bulk data such as shuffle blocks, never copied into
# the capnp message). The typed payload is the AnyPointer `payload`, a struct whose 64-bit capnp
# type id is `payloadTypeId`. See README.md, "Wire protocol".
@0xd84b272fa028a8d7;

using Cxx = import "/capnp/c++.capnp";
# The generated C++ is in `ember::rpc_wire` (not `ember::rpc::wire`, nor `ember::wire`): code that
# says `using namespace ember::rpc;`, or `using namespace ember::<module>;` inside namespace ember,
# keeps its own `wire` namespace unambiguous.
$Cxx.namespace("ember::rpc_wire");

enum Kind {
  oneWay @0;     # RpcEndpointRef::send: no reply
  request @1;    # RpcEndpointRef::ask: answered by a response or a failure with the same requestId
  response @2;   # successful reply; payload is the reply message
  failure @3;    # failed reply; payload is an RpcFailure
  cancel @4;     # the asker gave up on requestId (AskHandle::abort, or its ask timeout expired):
                 # sent on the connection the request took, if still open; the receiver's context
                 # turns cancelled() and its reply, if any, is not sent (a reply already on its
                 # way is dropped by the asker). Receivers may ignore it.
}

struct Envelope {
  kind @0 :Kind;
  requestId @1 :UInt64;      # request/response/failure/cancel: chosen by the asker, unique per env
  senderHost @2 :Text;       # the sender env's advertised address; empty for a client-mode env
  senderPort @3 :UInt16;
  senderName @4 :Text;       # sending endpoint's name, when sent from inside an endpoint
  receiver @5 :Text;         # oneWay/request: target endpoint name
  payloadTypeId @6 :UInt64;  # capnp type id of the struct in `payload`
  payload @7 :AnyPointer;
  bodySize @8 :UInt64;       # raw bytes following this frame on the wire
  origin @9 :EndpointRef;    # set on a forwarded oneWay/request (RpcEndpointRef::forward): the
                             # endpoint that first sent it, which the receiver sees as the
                             # message's sender; the sender* fields stay the forwarder's, whose
                             # connection this is. Unset: not forwarded.
}

# Why a request failed: RpcFailure.code. The numbers are ember::rpc::RpcErrc's (rpc/rpc_error.hpp)
# and never change; rpc/wire_error.hpp checks at compile time that they agree. An enum is a UInt16
# on the wire, so peers that read this field as UInt16 (ember before it was an enum) interoperate.
# Codes a newer peer adds arrive as numbers past the last one listed: treat them as failures.
enum ErrorCode {
  ok @0;
  timeout @1;                # no reply within the ask timeout
  endpointNotFound @2;       # no endpoint of that name at the receiver
  envStopped @3;             # the receiving env is shutting down
  remoteFailure @4;          # the handler failed the request or threw: `message` is its text
  connectionFailed @5;       # could not connect to the peer
  connectionClosed @6;       # the connection closed with the request outstanding
  frameTooLarge @7;          # a frame exceeded ember.rpc.message.maxSize
  unknownMessageType @8;     # the endpoint does not handle the payload's type
  unexpectedMessage @9;      # a reply of another type than the asker expected
  invalidUri @10;            # malformed ember:// URI or address
  aborted @11;               # the asker aborted the request
  sendDropped @12;           # an outbox was stopped or full and dropped the message
  protocolError @13;         # malformed bytes on the wire
  duplicateEndpoint @14;     # an endpoint of that name exists already
  bindFailed @15;            # could not listen on the requested address/port
  noReply @16;               # the endpoint dropped the request without replying
  authenticationFailed @17;  # the connection's handshake failed (ember.authenticate)
  invalidConfig @18;         # a configuration value is malformed or inconsistent
}

# The payload of a `failure` frame.
struct RpcFailure {
  code @0 :ErrorCode;
  message @1 :Text;          # human-readable, e.g. the text of the exception a handler threw
}

# An endpoint reference carried inside a message (Spark serializes RpcEndpointRef the same way:
# address and name). An empty host means a client-mode env: the receiver reaches it over the
# connection that carried the message.
struct EndpointRef {
  host @0 :Text;
  port @1 :UInt16;
  name @2 :Text;
}

# Endpoint lookup (Spark's RpcEndpointVerifier): asked of the "endpoint-verifier" endpoint.
struct CheckExistence {
  name @0 :Text;
}

struct CheckExistenceReply {
  exists @0 :Bool;
}

# A reply that carries nothing (Spark replies `true` to many asks).
struct Ack {}
