# BlockManagerMaster protocol (Spark's BlockManagerMessages): executors' BlockManagers ask the
# driver's "BlockManagerMaster" endpoint (BlockManagerMasterEndpoint); the master and the driver
# ask each BlockManager's "BlockManagerEndpoint" (BlockManagerStorageEndpoint) to remove blocks.
# Block ids are Spark's string forms ("rdd_2_0", "taskresult_17").
@0x905af25b2edc2433;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ember::storage::wire");

using Rpc = import "/rpc/rpc_envelope.capnp";
using Transfer = import "/storage/block_transfer_messages.capnp";

# Spark's StorageLevel wire form: flags (disk 8, memory 4, off-heap 2, deserialized 1), replicas.
struct StorageLevel {
  flags @0 :UInt8;
  replication @1 :UInt8;
}

# BlockManager -> master, ask, once at start. Reply: RegisteredBlockManager. Registering again
# for the same executor replaces the earlier registration and forgets its blocks.
struct RegisterBlockManager {
  blockManagerId @0 :Transfer.BlockManagerId;
  maxOnHeapMemory @1 :UInt64;           # MemoryStore capacity in bytes
  maxOffHeapMemory @2 :UInt64;          # always 0 in ember
  storageEndpoint @3 :Rpc.EndpointRef;  # the BlockManager's "BlockManagerEndpoint"
  localDirs @4 :List(Text);
}

struct RegisteredBlockManager {
  blockManagerId @0 :Transfer.BlockManagerId;
}

# BlockManager -> master, ask, after a block was stored, moved or removed: where it is now. A
# level with no memory and no disk flag (or both sizes 0) means the block is gone from that
# BlockManager. Reply: BooleanReply, false if the master does not know the BlockManager.
struct UpdateBlockInfo {
  blockManagerId @0 :Transfer.BlockManagerId;
  blockId @1 :Text;
  storageLevel @2 :StorageLevel;
  memSize @3 :UInt64;                   # bytes in memory
  diskSize @4 :UInt64;                  # bytes on disk
}

struct BooleanReply {
  value @0 :Bool;
}

# Any -> master, ask. Reply: Locations (empty if the block is nowhere).
struct GetLocations {
  blockId @0 :Text;
}

struct Locations {
  locations @0 :List(Transfer.BlockManagerId);
}

# Any -> master, ask. Reply: LocationsMultiple, one Locations per id, in request order.
struct GetLocationsMultipleBlockIds {
  blockIds @0 :List(Text);
}

struct LocationsMultiple {
  locations @0 :List(Locations);
}

# To the master, ask: remove the block from every BlockManager holding it; reply BooleanReply
# (true once every holder was asked). To a BlockManagerEndpoint, ask: remove the local copy;
# reply BooleanReply (whether it held the block).
struct RemoveBlock {
  blockId @0 :Text;
  # To the master only, optional: remove the block at this executor alone, even if its
  # BlockManager never reported it (a task result); the master forwards it over the
  # connection that executor registered on.
  executorId @1 :Text;
}

# To the master, ask: remove every block of RDD rddId everywhere; to a BlockManagerEndpoint: the
# local ones. Reply: RemovedCount, the number of blocks removed (BlockManagers that are gone
# count 0, as in Spark).
struct RemoveRdd {
  rddId @0 :Int32;
}

struct RemovedCount {
  count @0 :Int32;
}

# BlockManager -> master, ask (Spark's GetPeers): the other executors' BlockManagers, to
# replicate blocks to. Excludes the asker and the driver. Reply: Locations.
struct GetPeers {
  blockManagerId @0 :Transfer.BlockManagerId;
}

# Master -> a BlockManagerEndpoint holding blockId, ask (Spark's ReplicateBlock; proactive
# replication after an executor was lost): copy the block to new peers until it is on
# maxReplicas BlockManagers, counting this one and `replicas` (the other holders). Reply:
# BooleanReply, whether it reached maxReplicas.
struct ReplicateBlock {
  blockId @0 :Text;
  replicas @1 :List(Transfer.BlockManagerId);
  maxReplicas @2 :UInt8;
}

# To the master, ask: remove every block of broadcast variable broadcastId (its pieces, its
# metadata and the cached value) from every BlockManager, the driver's too if removeFromDriver
# (Spark's RemoveBroadcast: unpersist() keeps the driver's copy, destroy() does not); to a
# BlockManagerEndpoint: the local ones. Reply: RemovedCount, the number of blocks removed
# (BlockManagers that are gone count 0).
struct RemoveBroadcast {
  broadcastId @0 :Int64;
  removeFromDriver @1 :Bool;
}

# To the master, ask: delete the map outputs of shuffle shuffleId (data, index and checksum
# files) at every BlockManager; to a BlockManagerEndpoint: the local ones (Spark's
# RemoveShuffle, sent by the ContextCleaner once the driver holds no reference to the shuffle).
# Reply: RemovedCount, the number of map outputs deleted (BlockManagers that are gone count 0).
struct RemoveShuffle {
  shuffleId @0 :Int32;
}
