// SPDX-License-Identifier: Apache-2.0
#include "scheduler/status/json_protocol.hpp"
