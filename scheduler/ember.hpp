// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// The application API in one include: SparkContext, Rdd, broadcast variables, listeners and
/// ember::run.

#include "scheduler/app.hpp"
#include "scheduler/broadcast/broadcast.hpp"
#include "scheduler/closure.hpp"
#include "scheduler/listener.hpp"
#include "scheduler/rdd/rdd.hpp"
#include "scheduler/spark_context.hpp"
