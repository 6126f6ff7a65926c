// SPDX-License-Identifier: Apache-2.0
#include "scheduler/ui/spark_ui.hpp"
