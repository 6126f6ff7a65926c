// SPDX-License-Identifier: Apache-2.0
#include "rpc/write_through.hpp"

namespace ember::rpc {

namespace {
thread_local bool t_write_through = false;
}  // namespace

WriteThroughScope::WriteThroughScope() noexcept : outer_(t_write_through) { t_write_through = true; }

WriteThroughScope::~WriteThroughScope() { t_write_through = outer_; }

bool WriteThroughScope::active() noexcept { return t_write_through; }

}  // namespace ember::rpc
