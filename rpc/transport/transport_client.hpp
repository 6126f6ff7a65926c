// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: TransportClient, one TCP connection of an RpcEnv, used in both directions (Spark's
/// TransportClient + TransportChannelHandler; the server side creates one per accepted socket).

#include "rpc/message_data.hpp"
#include "rpc/rpc_address.hpp"
#include "rpc/rpc_error.hpp"
#include "rpc/security/security_config.hpp"
#include "rpc/transport/connection.hpp"
#include "rpc/transport/frame_codec.hpp"
#include "rpc/transport/read_poller.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/container/small_vector.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace ember::rpc::security {
class AuthHandshake;
class RecordCipher;
}  // namespace ember::rpc::security

namespace ember::rpc::transport {

namespace net = boost::asio;
using tcp = net::ip::tcp;

class TransportClient;

/// While a FlushScope is open on a thread, connections written to on that thread are flushed
/// when the outermost scope closes instead of through a posted flush: the replies a batch of
/// handlers sends go out in one writev per connection right after the batch, without another
/// trip through the event loop (and its extra epoll_wait).
/// Threading: thread-local by design; open it only on I/O threads.
class FlushScope {
public:
    FlushScope();
    ~FlushScope();
    FlushScope(const FlushScope&) = delete;
    FlushScope& operator=(const FlushScope&) = delete;
    /// Adds `c` to the innermost open scope of this thread; false if none is open.
    static bool defer(std::shared_ptr<TransportClient> c);

private:
    std::vector<std::shared_ptr<TransportClient>> pending_;
    FlushScope* outer_;
};

struct TransportOptions {
    std::size_t max_frame_bytes = 128u << 20;       ///< ember.rpc.message.maxSize
    std::uint64_t max_body_bytes = 2ull << 30;      ///< ember.rpc.io.maxBodySize
    std::uint64_t max_queued_bytes = 64ull << 20;   ///< ember.rpc.io.maxQueuedBytes (back-pressure)
    /// ember.rpc.io.maxBufferedBytesPerConnection: what one connection may buffer of frames and
    /// of bodies sent unasked (see FrameLimits).
    std::uint64_t max_buffered_bytes_per_connection = 256ull << 20;
    /// ember.rpc.io.maxBufferedBytes, shared by the env's connections; null: no env limit.
    std::shared_ptr<MemoryBudget> env_budget;
    /// ember.network.auth.rpcTimeout: an accepted connection must deliver its first complete
    /// frame within this, or it is closed (slow-loris peers). <= 0: no limit.
    std::chrono::milliseconds first_frame_timeout{30000};
    /// Authentication and encryption (ember.authenticate, ...); null or off: neither.
    std::shared_ptr<const security::SecurityConfig> security;
};

/// One connection. Reads complete on an I/O thread, which decodes every frame in the buffer
/// and hands each to the handler right there (no thread hop). Writes are flushed once per
/// batch: send() queues a frame and, if no flush is pending, posts one; the flush gathers
/// every queued frame into one writev on the socket directly, and only a partial or blocked
/// write falls back to an asynchronous write. File bodies go out with sendfile(2).
///
/// With authentication on (TransportOptions::security) the connection first runs the
/// AuthHandshake within ember.network.auth.rpcTimeout; frames sent meanwhile wait, none is read,
/// and a failed handshake closes the connection with authentication_failed (the asks queued on
/// it fail with that error). An encrypted session then seals everything written, frames and
/// bodies, in RecordCipher records of up to 64 KiB (file bodies are read with pread and sealed:
/// no sendfile), and opens what it reads the same way.
///
/// Threading: send(), close() and the accessors are thread-safe. Read handlers run one at a
/// time; flushes are serialised by `flushing_`; socket calls are serialised by `io_mu_`.
/// Ownership: shared; pending operations keep it alive until the socket closes.
class TransportClient final : public Connection,
                              public PolledRead,
                              public std::enable_shared_from_this<TransportClient> {
public:
    TransportClient(tcp::socket socket, ConnectionHandler& handler, TransportOptions options, Role role);
    ~TransportClient();

    /// Starts reading.
    void start() override;
    /// Queues a frame; unless it returns queued, `frame` is left untouched. A non-zero
    /// `request_id` is remembered as outstanding until complete_request(). The memory queued
    /// frames hold (their capnp segments and in-memory bodies; a file body holds none) is bounded
    /// by TransportOptions::max_queued_bytes, counted down as each frame's last byte is written,
    /// not per batch: beyond it the frame is refused (full), the caller waits for room, or the
    /// frame is queued anyway, per `when_full`. A frame always fits an empty queue, however big.
    SendResult send(std::unique_ptr<detail::OutgoingData>&& frame, std::uint64_t request_id = 0,
                    WhenFull when_full = WhenFull::fail,
                    std::chrono::steady_clock::time_point deadline = {}) override;
    /// Closes the socket; the handler's on_closed follows once. `failed`: broken by an error
    /// rather than closed cleanly. Idempotent.
    void close(RpcError why, bool failed = false) override;
    /// Forgets an outstanding request (answered, timed out or aborted).
    void complete_request(std::uint64_t request_id) override;
    /// Closes the connection if requests are outstanding and nothing was read or written, nor
    /// any request sent, for `timeout` (Spark's TransportChannelHandler idle check).
    void check_idle(std::chrono::milliseconds timeout) override;

    /// Server side: the asker of `request_id` gave up (a cancel frame arrived).
    void mark_cancelled(std::uint64_t request_id) override;
    /// Server side: true if `request_id` was cancelled (and forgets it when `forget`).
    bool is_cancelled(std::uint64_t request_id, bool forget) override;

    bool is_active() const noexcept override { return !closed_.load(std::memory_order_acquire); }
    std::uint64_t id() const noexcept override { return id_; }
    /// The socket's peer (for an outbound connection: the listening address dialed).
    const RpcAddress& remote_address() const noexcept override { return remote_; }
    /// The peer env's advertised address, once a frame told it.
    RpcAddress peer_env_address() const override;
    /// Records the peer env's address; returns true the first time.
    bool set_peer_env_address(const RpcAddress& a) override;

private:
    friend class FlushScope;
    struct Frame {
        std::unique_ptr<detail::OutgoingData> data;
        // Inline up to 7 segments (a typical frame has one or two): no allocation per frame.
        boost::container::small_vector<std::byte, 32> table;
        std::uint64_t cost = 0;  // memory it holds (see memory_cost), counted in queued_bytes_
    };
    /// The frames of one flush, as buffers; file regions split the sequence.
    struct Batch;

    void start_read();
    /// After a read's frames: the thread's ReadPoller polls the connection if it may (a plain
    /// session between frames, on a single spinning I/O thread); otherwise start_read().
    void read_on();
    /// PolledRead: one non-blocking recv() into the decoder, on the polling thread.
    bool read_now() override;
    void arm() override { start_read(); }
    void on_read(const boost::system::error_code& ec, std::size_t n);
    /// Runs flush() on the connection's I/O thread, later.
    void post_flush();
    /// Whether sends on the calling thread write through (WriteThroughScope): a scope is open
    /// and the thread runs no I/O loop.
    static bool write_through_here();
    /// Decodes and delivers the frames the decoder holds, then reads on.
    void process_frames();
    /// Encrypted sessions: opens the whole records in rx_ into the decoder.
    void on_read_sealed(const boost::system::error_code& ec, std::size_t n);
    /// Handshake: sends what it has to say, then reads what it wants next.
    void pump_handshake();
    void continue_handshake();
    void established();
    /// A failed handshake of an accepted connection: FIN after the failure record, then drain
    /// the peer's bytes (1 s, 64 KiB at most) before closing, so no reset discards the record.
    void linger_then_close(RpcError why);
    void drain_then_close(RpcError why, std::size_t drained);
    /// The error of a failed write: the peer's failure record if one is waiting to be read.
    RpcError write_failure(const std::string& why);
    /// Encrypted sessions: seals the batch's pieces into records and writes them.
    void write_batch_sealed(std::shared_ptr<Batch> batch);
    /// The socket would block: write_batch(batch) again once it is writable.
    void wait_writable(std::shared_ptr<Batch> batch);
    /// The batch is all written: keeps it for reuse and looks for more frames to write.
    void batch_written(std::shared_ptr<Batch> batch);
    /// "client 10.0.0.3:51512" / "server host:7077", for messages.
    std::string peer_description() const;
    /// The FrameDecoder's body policy: keep bodies of frames somebody reads.
    RpcResult<BodyAction> body_action(const rpc_wire::Envelope::Reader& envelope);
    /// How much room the next plain read asks of the decoder: kReadChunk, or within a large
    /// frame as much of it as the socket holds (FIONREAD).
    std::size_t read_size();
    void arm_first_frame_timer();
    void schedule_flush();
    void flush();
    /// Writes what the batch holds from `pos` on; returns when done, when the socket would
    /// block (continuing asynchronously), or on error.
    void write_batch(std::shared_ptr<Batch> batch);
    void finish_flush();
    /// Frames costing `n` were written whole: frees that much queue room.
    void release(std::uint64_t n);
    void finish_close();
    void touch() noexcept;

    static std::atomic<std::uint64_t> next_id_;
    const std::uint64_t id_;
    tcp::socket socket_;
    ConnectionHandler& handler_;
    TransportOptions options_;
    Role role_;
    RpcAddress remote_;
    FrameDecoder decoder_;  // used by the one read in flight
    std::unique_ptr<net::steady_timer> first_frame_timer_;  // accepted connections, until a frame came
    bool got_frame_ = false;  // by the read handler

    // Authentication and encryption (null when off). The handshake runs before any frame; its
    // reads and writes are the only socket operations meanwhile.
    std::unique_ptr<security::AuthHandshake> handshake_;
    std::vector<std::byte> handshake_in_;
    std::unique_ptr<net::steady_timer> handshake_timer_;
    std::unique_ptr<net::steady_timer> linger_timer_;  // linger_then_close
    std::unique_ptr<security::RecordCipher> sealer_;  // what we write (flushes, one at a time)
    std::unique_ptr<security::RecordCipher> opener_;  // what we read (the one read in flight)
    std::unique_ptr<std::byte[]> rx_;                 // sealed bytes read, not yet opened
    std::size_t rx_len_ = 0;
    std::unique_ptr<std::byte[]> plain_;              // one record's plaintext, being sealed
    std::unique_ptr<std::byte[]> tx_;                 // sealed records not yet written
    std::size_t tx_len_ = 0, tx_sent_ = 0;

    std::mutex io_mu_;  // serialises calls on socket_ (reads, writes and close may be on different threads)

    mutable std::mutex mu_;
    std::condition_variable room_;                 // signalled when queued bytes drop or on close
    std::deque<Frame> queue_;                      // guarded by mu_
    std::uint64_t queued_bytes_ = 0;               // guarded by mu_: cost of frames queued or being written
    int room_waiters_ = 0;                         // guarded by mu_
    bool flush_pending_ = false;                   // guarded by mu_: a flush is posted or writing
    bool established_ = false;                     // guarded by mu_: writes may start
    std::unordered_set<std::uint64_t> outstanding_;  // guarded by mu_
    std::unordered_set<std::uint64_t> cancelled_;  // guarded by mu_
    RpcAddress peer_env_;                          // guarded by mu_
    RpcError close_reason_;                        // guarded by mu_
    bool close_failed_ = false;                    // guarded by mu_
    std::atomic<bool> closed_{false};
    std::atomic<bool> close_notified_{false};
    std::atomic<std::int64_t> last_io_ns_{0};      // last read or write completion (steady clock)
    std::atomic<std::int64_t> last_request_ns_{0}; // last request queued
    std::atomic<bool> peer_known_{false};          // peer_env_ is set (read without mu_)
    std::atomic<int> cancelled_count_{0};          // cancelled_.size(), read without mu_
    std::shared_ptr<Batch> spare_batch_;           // reused by flushes (one at a time)
};

}  // namespace ember::rpc::transport
