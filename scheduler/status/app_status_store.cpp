// SPDX-License-Identifier: Apache-2.0
#include "scheduler/status/app_status_store.hpp"
