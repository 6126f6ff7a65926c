# Block transfer between BlockManagers (the role of Spark's OpenBlocks / FetchShuffleBlocks
# and StreamHandle in network-shuffle): asked of the "block-transfer" endpoint.
@0x9bcf9aba81f9b87a;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ember::storage::wire");

# Ask: the bytes of these blocks (Spark string forms, e.g. "shuffle_0_5_3").
struct FetchBlocks {
  blockIds @0 :List(Text);
  # Empty, or one range per block id: then only `length` bytes at `offset` of each block are
  # sent (a range beyond the block's end fails the ask). Reducers fetch blocks larger than
  # ember.network.maxRemoteBlockSizeFetchToMem this way, in pieces streamed to a file.
  ranges @1 :List(ByteRange);
}

struct ByteRange {
  offset @0 :UInt64;
  length @1 :UInt64;
}

# Reply: one size per requested block, in request order; the reply's raw body is the blocks'
# bytes concatenated in that order. If any block cannot be served the ask fails instead, with a
# message naming the block and the reason.
struct BlocksFetched {
  sizes @0 :List(UInt64);
}

# Ask: diagnose why shuffle block (shuffleId, mapId, reduceId) failed to decode at the reader
# (Spark's DiagnoseCorruption): the server recomputes the checksum of the block on its disk and
# compares it with the one its writer stored and the reader's `checksum` of the bytes received.
struct DiagnoseCorruption {
  shuffleId @0 :Int32;
  mapId @1 :Int64;
  reduceId @2 :Int32;
  checksum @3 :UInt64;     # by the reader, over the block's bytes as received
  algorithm @4 :Text;      # ember.shuffle.checksum.algorithm, e.g. "ADLER32"
}

# Reply to DiagnoseCorruption (Spark's CorruptionCause; the enum follows Spark's Cause order).
struct CorruptionCause {
  cause @0 :Cause;
  enum Cause {
    diskIssue @0;
    networkIssue @1;
    unknownIssue @2;
    checksumVerifyPass @3;
    unsupportedChecksumAlgorithm @4;
  }
}

# Where a BlockManager serves blocks (Spark's BlockManagerId).
struct BlockManagerId {
  executorId @0 :Text;
  host @1 :Text;
  port @2 :UInt16;
}

# Ask (replication, Spark's UploadBlock): store this block here. The block's bytes are the
# message's raw body, not part of the capnp payload. The receiver refuses (failing the ask with
# a message naming the block and the reason, and keeps serving) anything but an RDD block
# ("rdd_<rdd>_<partition>") at a valid level with replication 1, a body whose size is not
# `size`, or a block larger than it can store (a memory-only block larger than its MemoryStore).
# Reply: BlockUploaded, sent once the block is stored and reported to the BlockManagerMaster.
struct UploadBlock {
  blockId @0 :Text;
  levelFlags @1 :UInt8;    # StorageLevel flags: disk 8, memory 4, off-heap 2, deserialized 1
  replication @2 :UInt8;   # must be 1: a replica is not replicated again
  size @3 :UInt64;         # bytes in the body
}

struct BlockUploaded {
  memSize @0 :UInt64;      # where the receiver stored it
  diskSize @1 :UInt64;
}
