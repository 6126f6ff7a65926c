// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// WriteThroughScope: lets a thread that is not an I/O thread write what it sends itself.

namespace ember::rpc {

/// While a WriteThroughScope is open on a thread that runs no I/O loop, a send that finds its
/// connection with nothing queued or being written writes the frame on this thread (one
/// sendmsg) instead of posting the flush to the connection's I/O thread. That saves the I/O
/// thread's pick-up (a poll of its loop, or a wake-up when it sleeps) on a path where one
/// message is all there is, e.g. the StatusUpdate of an executor's lone task. Sends that find
/// a flush under way join it as usual, so a busy connection still batches; a write that would
/// block is finished by the I/O thread. Without a scope, or on an I/O thread, nothing changes.
/// Threading: thread-local by design; scopes nest.
class WriteThroughScope {
public:
    WriteThroughScope() noexcept;
    ~WriteThroughScope();
    WriteThroughScope(const WriteThroughScope&) = delete;
    WriteThroughScope& operator=(const WriteThroughScope&) = delete;
    /// Whether a scope is open on the calling thread.
    static bool active() noexcept;

private:
    bool outer_;
};

}  // namespace ember::rpc
