# MapOutputTracker protocol (Spark's MapOutputTracker messages): executors ask the driver's
# "MapOutputTracker" endpoint where the map outputs of a shuffle are.
@0xf6b8ee584309a32c;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ember::shuffle::wire");

using Storage = import "/storage/block_transfer_messages.capnp";

struct MapStatus {
  location @0 :Storage.BlockManagerId;
  mapId @1 :Int64;              # the map task's attempt id
  mapIndex @2 :Int32;           # the map partition
  sizes @3 :List(UInt64);       # exact bytes of each reduce block
}

# Ask: the map outputs of a shuffle.
struct GetMapOutputStatuses {
  shuffleId @0 :Int32;
}

# Reply: every registered output (missing map indexes are simply absent) and the tracker epoch.
# An unknown shuffle fails the ask instead.
struct MapOutputStatuses {
  shuffleId @0 :Int32;
  numMaps @1 :Int32;
  epoch @2 :Int64;
  statuses @3 :List(MapStatus);
}
