// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the cluster protocol's messages (scheduler/cluster/cluster_messages.capnp)
// as the driver and the executors read them: StatusUpdate (TaskStatus, TaskFailedReason,
// TaskMetrics, the result as a MapStatus or collect() records), LaunchTask (TaskDescriptions, the
// stage binaries decoded), RegisterExecutor, Heartbeat, RetrieveSparkAppConfig and the rest,
// through the conversion functions the endpoints call (fuzz_support.cpp: read_message).
//
// Input: byte 0 picks the message type; the rest is a capnp message in stream framing whose root
// is that type.
#include "scheduler/cluster/cluster_messages.capnp.h"
#include "test/fuzz/fuzz_support.hpp"

using namespace ember;
namespace sw = ember::scheduler::wire;

namespace {

// The root read in place as a T, as the endpoint reads a payload of that type.
template <class T>
void read_as(fuzz::CapnpInput& in) {
    fuzz::read_payload(fuzz::Payload{in.reader().getRoot<capnp::AnyPointer>(), capnp::typeId<T>()});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Selector sel(data, size);
    fuzz::CapnpInput in(sel.rest);
    fuzz::rejecting([&] {
        switch (sel.which % 12) {
            case 0:
                return read_as<sw::StatusUpdate>(in);
            case 1:
                return read_as<sw::LaunchTask>(in);
            case 2:
                return read_as<sw::RegisterExecutor>(in);
            case 3:
                return read_as<sw::Heartbeat>(in);
            case 4:
                return read_as<sw::RetrieveSparkAppConfig>(in);
            case 5:
                return read_as<sw::SparkAppConfig>(in);
            case 6:
                return read_as<sw::RegisteredExecutor>(in);
            case 7:
                return read_as<sw::LaunchedExecutor>(in);
            case 8:
                return read_as<sw::KillTask>(in);
            case 9:
                return read_as<sw::RemoveExecutor>(in);
            case 10:
                return read_as<sw::HeartbeatResponse>(in);
            default:
                return read_as<sw::StopExecutor>(in);
        }
    });
    return 0;
}
