// SPDX-License-Identifier: Apache-2.0
#include "scheduler/ui/console_progress_bar.hpp"
