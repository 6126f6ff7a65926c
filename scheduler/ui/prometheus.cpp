// SPDX-License-Identifier: Apache-2.0
#include "scheduler/ui/prometheus.hpp"
