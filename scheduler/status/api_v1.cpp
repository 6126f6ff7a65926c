// SPDX-License-Identifier: Apache-2.0
#include "scheduler/status/api_v1.hpp"
