# Messages of the ember-ping-pong example. An RpcEnv tells messages apart by the 64-bit type id
# Cap'n Proto gives each struct, so a protocol is just a set of structs: no service definition,
# no enum of message kinds.
@0x8057fa951165c42c;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ember::examples::wire");

# Asked by the client; the server answers with a Pong carrying the same n.
struct Ping {
  n @0 :UInt64;
}

struct Pong {
  n @0 :UInt64;
}

# Sent one-way (no reply): the server prints the text.
struct Note {
  text @0 :Text;
}

# Asked by the client, never answered by the server: the ask times out.
struct Silence {}
