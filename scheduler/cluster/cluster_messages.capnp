# Driver <-> executor protocol (Spark's CoarseGrainedClusterMessages). The driver's endpoint is
# "CoarseGrainedScheduler" (DriverEndpoint); each executor's is "Executor"
# (CoarseGrainedExecutorBackend).
@0xd3ab6e76ffec7090;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ember::scheduler::wire");

using Rpc = import "/rpc/rpc_envelope.capnp";
using Storage = import "/storage/block_transfer_messages.capnp";

struct KeyValue {
  key @0 :Text;
  value @1 :Text;
}

# Executor -> driver, ask, before anything else: the application's configuration.
struct RetrieveSparkAppConfig {
  executorId @0 :Text;
}

# Reply to RetrieveSparkAppConfig.
struct SparkAppConfig {
  appId @0 :Text;
  sparkProperties @1 :List(KeyValue);   # every ember.* key of the driver's configuration
}

# Executor -> driver, ask. Answered by RegisteredExecutor, or a failure ("Duplicate executor ID:
# <id>", or a build mismatch: the executor is a different binary than the driver).
struct RegisterExecutor {
  executorId @0 :Text;
  executorRef @1 :Rpc.EndpointRef;
  hostname @2 :Text;
  cores @3 :Int32;
  buildId @4 :Text;                     # identity of the executable (ELF build id)
  pid @5 :Int32;
  blockManagerId @6 :Storage.BlockManagerId;
}

# Reply to RegisterExecutor.
struct RegisteredExecutor {
  appId @0 :Text;
}

# Executor -> driver, one-way: the executor is ready; the driver offers its cores.
struct LaunchedExecutor {
  executorId @0 :Text;
}

# A stage's code and lineage: sent to each executor once, ahead of its first task.
struct StageBinary {
  stageId @0 :Int32;
  stageAttempt @1 :Int32;
  binary @2 :Data;                      # ember's encoding of the RDD lineage and task function
}

# One task: which partition of which stage attempt (Spark's TaskDescription).
struct TaskDescription {
  taskId @0 :Int64;                     # unique per application (Spark's TID)
  attemptNumber @1 :Int32;              # attempt of this task index
  executorId @2 :Text;
  name @3 :Text;                        # "task 3.0 in stage 1.0 (TID 7)"
  index @4 :Int32;                      # position in the task set
  partitionId @5 :Int32;
  stageId @6 :Int32;
  stageAttempt @7 :Int32;
  jobId @8 :Int32;
  epoch @9 :Int64;                      # MapOutputTracker epoch when the task set was made
  cpus @10 :Int32;
  partitionData @11 :Data;              # records the task's partitions carry (parallelize's slices):
                                        # count, then (rddId, partition, bytes) per entry; empty if none
}

# A stage attempt whose binary an executor may drop.
struct StageAttempt {
  stageId @0 :Int32;
  stageAttempt @1 :Int32;
}

# Driver -> executor, one-way: tasks to run, preceded by any stage binaries the executor lacks.
# removeStages names finished stage attempts (no task of theirs will come again) whose binaries
# and decoded lineage the executor drops once the tasks it already has of them end, as Spark's
# executors drop a task binary's broadcast on RemoveBroadcast; a LaunchTask may carry only that.
struct LaunchTask {
  stages @0 :List(StageBinary);
  tasks @1 :List(TaskDescription);
  removeStages @2 :List(StageAttempt);
}

enum TaskState {
  launching @0;
  running @1;
  finished @2;
  failed @3;
  killed @4;
  lost @5;
}

struct TaskMetrics {
  executorDeserializeTimeNs @0 :UInt64;
  executorRunTimeNs @1 :UInt64;
  resultSize @2 :UInt64;
  inputBytesRead @3 :UInt64;
  inputRecordsRead @4 :UInt64;
  outputBytesWritten @5 :UInt64;
  outputRecordsWritten @6 :UInt64;
  shuffleBytesWritten @7 :UInt64;
  shuffleRecordsWritten @8 :UInt64;
  shuffleWriteTimeNs @9 :UInt64;
  shuffleRemoteBlocksFetched @10 :UInt64;
  shuffleLocalBlocksFetched @11 :UInt64;
  shuffleRemoteBytesRead @12 :UInt64;   # fetched from other executors over TCP
  shuffleLocalBytesRead @13 :UInt64;    # read from the executor's own disk
  shuffleFetchWaitTimeNs @14 :UInt64;
  shuffleRecordsRead @15 :UInt64;
  memoryBytesSpilled @16 :UInt64;
  diskBytesSpilled @17 :UInt64;
  shuffleRemoteBytesReadToDisk @18 :UInt64;   # of the remote bytes, those streamed to a temp file
  executorDeserializeCpuTimeNs @19 :UInt64;   # thread CPU time while rebuilding the stage
  executorCpuTimeNs @20 :UInt64;              # thread CPU time of the run (<= executorRunTimeNs)
  resultSerializationTimeNs @21 :UInt64;
  peakExecutionMemory @22 :UInt64;            # bytes: peak of the task's spillable buffers
  shuffleRemoteReqsDurationNs @23 :UInt64;    # remote fetch requests, send to reply, summed
  shufflePeakBytesInFlight @24 :UInt64;       # ember: most remote bytes in flight at once
  shufflePeakReqsInFlight @25 :UInt64;        # ember: most remote requests in flight at once
  shufflePeakBlocksInFlight @26 :UInt64;      # ember: most remote blocks in flight at once
}

# Why a task did not succeed (Spark's TaskEndReason).
struct TaskFailedReason {
  union {
    exceptionFailure :group {
      className @0 :Text;
      description @1 :Text;
      stackTrace @2 :Text;
    }
    fetchFailed :group {
      bmAddress @3 :Storage.BlockManagerId;   # empty executorId: metadata fetch failure
      shuffleId @4 :Int32;
      mapId @5 :Int64;
      mapIndex @6 :Int32;
      reduceId @7 :Int32;
      message @8 :Text;
    }
    taskKilled :group {
      reason @9 :Text;
    }
    taskResultLost @10 :Void;           # the driver could not fetch an indirect result
  }
}

# One task's partial value of one accumulator (Spark's accumUpdates). The driver merges it into
# its accumulator `id` if `type` is that accumulator's and `value` decodes; else it drops it.
struct AccumulatorUpdate {
  id @0 :Int64;
  type @1 :Text;                        # the state class's type tag (same build as the driver)
  value @2 :Data;                       # the partial state in its Serde encoding
}

# Spark's DirectTaskResult / IndirectTaskResult. A finished task's result of S bytes travels in
# `result` when S <= min(ember.task.maxDirectResultSize (1m), ember.rpc.message.maxSize).
# Larger results are indirect: `result` is empty and `resultBlockId` names the block
# ("taskresult_<taskId>") holding the bytes in the executor's BlockManager, which the driver
# fetches over "block-transfer" (FetchBlocks) and then removes (RemoveBlock); when S exceeds
# ember.driver.maxResultSize (1g, 0 = no limit) nothing is stored and only the size is sent, so
# the driver fails the job without fetching.
struct TaskStatus {
  taskId @0 :Int64;
  state @1 :TaskState;
  result @2 :Data;                      # finished: the task's result (a MapStatus or action bytes)
  failure @3 :TaskFailedReason;         # failed / killed
  metrics @4 :TaskMetrics;
  indirect @5 :Bool;                    # finished: the result is indirect (see above)
  resultSize @6 :UInt64;                # indirect: S, the result's size in bytes
  resultBlockId @7 :Text;               # indirect: the block holding it
  accumUpdates @8 :List(AccumulatorUpdate);   # finished: every accumulator the task added to;
                                        # failed / killed: those that count failed values
}

# Executor -> driver, one-way: state changes of one or more tasks.
struct StatusUpdate {
  executorId @0 :Text;
  updates @1 :List(TaskStatus);
}

# Driver -> executor, one-way.
struct KillTask {
  taskId @0 :Int64;
  executorId @1 :Text;
  interruptThread @2 :Bool;
  reason @3 :Text;
}

# Driver -> executor, one-way: finish and exit.
struct StopExecutor {}

# Any -> driver, one-way: forget an executor.
struct RemoveExecutor {
  executorId @0 :Text;
  reason @1 :Text;
}

# The executor's process as sampled for a heartbeat (Spark's ExecutorMetrics). Bytes and
# nanoseconds; a negative or absurd value makes the driver ignore the whole sample.
struct ExecutorMetrics {
  processRssBytes @0 :Int64;            # resident set size (/proc/self/statm)
  processVmemBytes @1 :Int64;           # virtual memory size
  storageMemoryBytes @2 :Int64;         # the BlockManager's MemoryStore in use
  executionMemoryBytes @3 :Int64;       # shuffle and aggregation buffers (0: not tracked yet)
  cpuTimeNs @4 :Int64;                  # user + system CPU time of the process so far
}

# Executor -> driver's "HeartbeatReceiver" endpoint, ask (timeout ember.executor.heartbeatInterval),
# every ember.executor.heartbeatInterval (10s): the executor is alive, and its executor-level
# metrics. Spark's Heartbeat without accumulator updates (task metrics travel in StatusUpdate).
struct Heartbeat {
  executorId @0 :Text;
  blockManagerId @1 :Storage.BlockManagerId;
  runningTasks @2 :Int32;               # tasks running on the executor when it was sent
  metrics @3 :ExecutorMetrics;          # absent from executors older than this field
}

# Reply to Heartbeat.
struct HeartbeatResponse {
  reregisterBlockManager @0 :Bool;      # Spark's: the driver does not know this executor (yet)
  executorRemoved @1 :Bool;             # ember: the driver removed this executor (heartbeat
                                        # timeout); it exits instead of running on unseen
}
