// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: writes to a socket whose peer is gone must fail with EPIPE, never raise SIGPIPE
/// (whose default action ends the process: a peer that resets a connection during a reply
/// would kill us). Gather writes use MSG_NOSIGNAL; sendfile(2) has no such flag, so it runs
/// under NoSigpipe.

#include <cerrno>
#include <csignal>
#include <ctime>

#include <pthread.h>

namespace ember::rpc::transport {

/// True on threads that called block_sigpipe_on_this_thread().
inline bool& sigpipe_blocked_here() noexcept {
    thread_local bool blocked = false;
    return blocked;
}

/// Blocks SIGPIPE for the rest of the calling thread's life (the env's I/O threads, which do
/// all the socket writes): a SIGPIPE raised there stays pending and harmless.
inline void block_sigpipe_on_this_thread() noexcept {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    if (::pthread_sigmask(SIG_BLOCK, &pipe, nullptr) == 0) sigpipe_blocked_here() = true;
}

/// While alive, SIGPIPE raised by this thread's writes does not reach the process: it is
/// blocked, and one raised meanwhile is consumed before the old mask comes back (the libcurl
/// and OpenSSL technique). Free on threads that block SIGPIPE for good.
/// Threading: per thread; create it on the thread that writes.
class NoSigpipe {
public:
    NoSigpipe() noexcept {
        if (sigpipe_blocked_here()) return;
        active_ = true;
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        ::pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
        sigset_t pending;
        sigemptyset(&pending);
        ::sigpending(&pending);
        was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    }
    ~NoSigpipe() {
        if (!active_) return;
        if (!was_pending_) {
            // Consume the SIGPIPE an EPIPE write raised, if any, without waiting.
            timespec zero{0, 0};
            int saved = errno;
            while (::sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {
            }
            errno = saved;
        }
        ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    NoSigpipe(const NoSigpipe&) = delete;
    NoSigpipe& operator=(const NoSigpipe&) = delete;

private:
    bool active_ = false;
    bool was_pending_ = false;
    sigset_t pipe_{};
    sigset_t old_{};
};

}  // namespace ember::rpc::transport
