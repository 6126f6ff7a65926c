# Block transfer between BlockManagers (the role of Spark's OpenBlocks / FetchShuffleBlocks
# and StreamHandle in network-shuffle): asked of the "block-transfer" endpoint.
@0x9bcf9aba81f9b87a;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ember::storage::wire");

# Ask: the bytes of these blocks (Spark string forms, e.g. "shuffle_0_5_3").
struct FetchBlocks {
  blockIds @0 :List(Text);
}

# Reply: one size per requested block, in request order; the reply's raw body is the blocks'
# bytes concatenated in that order. If any block cannot be served the ask fails instead, with a
# message naming the block and the reason.
struct BlocksFetched {
  sizes @0 :List(UInt64);
}

# Where a BlockManager serves blocks (Spark's BlockManagerId).
struct BlockManagerId {
  executorId @0 :Text;
  host @1 :Text;
  port @2 :UInt16;
}
