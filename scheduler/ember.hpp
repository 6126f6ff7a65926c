// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// The application API in one include: SparkContext, Rdd, accumulators, broadcast variables,
/// listeners and ember::run.

#include "scheduler/app.hpp"
#include "scheduler/broadcast/broadcast.hpp"
#include "scheduler/closure.hpp"
#include "scheduler/listener.hpp"
#include "scheduler/rdd/rdd.hpp"
#include "scheduler/spark_context.hpp"
#include "scheduler/util/accumulator_v2.hpp"
