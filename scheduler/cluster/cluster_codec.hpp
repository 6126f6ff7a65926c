// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: conversions between scheduler structs and cluster_messages.capnp.

#include "scheduler/cluster/cluster_messages.capnp.h"
#include "scheduler/task_set.hpp"

namespace ember::scheduler {

void to_wire(wire::TaskDescription::Builder b, const TaskDescription& d);
TaskDescription from_wire(wire::TaskDescription::Reader r);

}  // namespace ember::scheduler
