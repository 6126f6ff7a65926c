// SPDX-License-Identifier: Apache-2.0
#include "scheduler/status/event_log.hpp"
