# Messages of the ember-kv example: a key-value store replicated across processes.
@0xc5cdd08cf9b4a003;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ember::examples::kv::wire");

# Orders writes across nodes: a Lamport counter, ties broken by the writing node's id. A node
# keeps, per key, the value with the highest version (last writer wins).
struct Version {
  counter @0 :UInt64;
  node @1 :UInt32;
}

# Asked by a client: store value under key. Answered with an Ack.
struct Put {
  key @0 :Text;
  value @1 :Text;
}

# The version the node gave the write.
struct Ack {
  version @0 :Version;
}

# Asked by a client. Answered with a Value.
struct Get {
  key @0 :Text;
}

struct Value {
  found @0 :Bool;
  value @1 :Text;
}

# Sent one-way from node to node after a Put: apply the write if its version is newer.
struct Replicate {
  key @0 :Text;
  value @1 :Text;
  version @2 :Version;
}
