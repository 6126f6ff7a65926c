# Messages of ember-bench's RPC benchmarks.
@0xf449154e79cb6e98;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ember::bench::wire");

struct Echo {
  payload @0 :Data;   # 64 bytes in the benchmarks
}

# Asked after a run of one-way sends: answered once everything before it was handled.
struct Flush {}

struct FlushReply {
  received @0 :UInt64;
}

# Asks for `length` bytes at `offset` of the file at `path`, sent as the reply's body from the
# file (as a block server sends a shuffle block: sendfile, or sealed from pread when encrypted).
struct Fetch {
  path @0 :Text;
  offset @1 :UInt64;
  length @2 :UInt64;
}

struct Fetched {
  length @0 :UInt64;
}
