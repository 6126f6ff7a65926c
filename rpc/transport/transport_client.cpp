// SPDX-License-Identifier: Apache-2.0
#include "rpc/transport/transport_client.hpp"

#include "rpc/log.hpp"
#include "rpc/message_loop.hpp"
#include "rpc/security/auth_handshake.hpp"
#include "rpc/security/record_cipher.hpp"
#include "rpc/transport/no_sigpipe.hpp"
#include "rpc/write_through.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <variant>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

namespace ember::rpc::transport {
namespace {

// Each read asks for at least this much room, and reads into all the buffer has free: the
// buffer starts small and doubles only when frames need it.
constexpr std::size_t kReadChunk = 4 * 1024;
constexpr std::size_t kDirectBodyRead = 64 * 1024;
constexpr std::size_t kMaxCancelled = 4096;  // cancels of requests already answered are forgotten
// Encrypted sessions: sealed bytes read at once, and sealed bytes written per send.
constexpr std::size_t kSealedRead = 2 * (security::RecordCipher::kMaxPlaintext + security::RecordCipher::kOverhead);
constexpr std::size_t kSealedWrite = 4 * (security::RecordCipher::kMaxPlaintext + security::RecordCipher::kOverhead);

RpcAddress endpoint_address(const tcp::socket& s) {
    boost::system::error_code ec;
    auto ep = s.remote_endpoint(ec);
    if (ec) return {};
    return RpcAddress{ep.address().to_string(), ep.port()};
}

thread_local FlushScope* t_flush_scope = nullptr;

std::int64_t steady_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

/// The frames of one flush laid out as pieces (memory buffers or file regions) and a cursor.
struct TransportClient::Batch {
    struct FilePiece {
        FileRegion region;
    };
    using Piece = std::variant<net::const_buffer, FilePiece>;
    std::vector<Frame> frames;  // own the memory the pieces point into
    std::vector<Piece> pieces;
    std::vector<std::size_t> frame_ends;  // per frame: the index of the piece after its last
    std::size_t piece = 0;     // cursor: current piece
    std::uint64_t offset = 0;  // cursor: bytes of it already written
    std::size_t released = 0;  // frames wholly written and released from the queue's count

    void build() {
        for (auto& f : frames) {
            pieces.emplace_back(net::const_buffer(f.table.data(), f.table.size()));
            for (auto seg : f.data->builder.getSegmentsForOutput()) {
                pieces.emplace_back(net::const_buffer(seg.begin(), seg.size() * sizeof(capnp::word)));
            }
            for (auto& part : f.data->body) {
                if (auto* b = std::get_if<Bytes>(&part)) {
                    if (!b->empty()) pieces.emplace_back(net::const_buffer(b->data(), b->size()));
                } else if (auto* sb = std::get_if<SharedBytes>(&part)) {
                    if (!sb->bytes.empty()) pieces.emplace_back(net::const_buffer(sb->bytes.data(), sb->bytes.size()));
                } else {
                    auto& r = std::get<FileRegion>(part);
                    if (r.length > 0) pieces.emplace_back(FilePiece{r});
                }
            }
            frame_ends.push_back(pieces.size());
        }
    }
    /// The cost of the frames the cursor has passed since the last call.
    std::uint64_t take_written_cost() {
        std::uint64_t cost = 0;
        while (released < frames.size() && piece >= frame_ends[released]) cost += frames[released++].cost;
        return cost;
    }
};

namespace {

/// The memory a queued frame holds: the OutgoingData (with its first segment), the capnp
/// segments beyond it, the segment table, and in-memory body parts (a file part holds only
/// its descriptor).
std::uint64_t memory_cost(detail::OutgoingData& d, std::size_t table_bytes) {
    std::uint64_t cost = sizeof(detail::OutgoingData) + table_bytes + d.body.capacity() * sizeof(detail::BodyPart);
    auto segments = d.builder.getSegmentsForOutput();
    for (std::size_t i = 1; i < segments.size(); ++i) cost += segments[i].size() * sizeof(capnp::word);
    for (auto& part : d.body) {
        if (auto* b = std::get_if<Bytes>(&part)) {
            cost += b->size();
        } else if (auto* sb = std::get_if<SharedBytes>(&part)) {
            cost += sb->bytes.size();
        }
    }
    return cost;
}

}  // namespace

FlushScope::FlushScope() : outer_(t_flush_scope) { t_flush_scope = this; }

FlushScope::~FlushScope() {
    t_flush_scope = outer_;
    if (outer_) {
        // Nested: the outermost scope flushes.
        for (auto& c : pending_) outer_->pending_.push_back(std::move(c));
        return;
    }
    for (auto& c : pending_) c->flush();
}

bool FlushScope::defer(std::shared_ptr<TransportClient> c) {
    if (!t_flush_scope) return false;
    t_flush_scope->pending_.push_back(std::move(c));
    return true;
}

std::atomic<std::uint64_t> TransportClient::next_id_{1};

TransportClient::TransportClient(tcp::socket socket, ConnectionHandler& handler, TransportOptions options, Role role)
    : id_(next_id_.fetch_add(1)),
      socket_(std::move(socket)),
      handler_(handler),
      options_(options),
      role_(role),
      remote_(endpoint_address(socket_)),
      decoder_(options.max_frame_bytes, options.max_body_bytes,
               FrameLimits{options.max_buffered_bytes_per_connection, options.env_budget,
                           [this](const rpc_wire::Envelope::Reader& e) { return body_action(e); }}) {
    boost::system::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    socket_.native_non_blocking(true, ec);  // flushes write to the socket directly
    // Asio opens and accepts sockets without SOCK_CLOEXEC: a process this one starts (a
    // local-cluster executor) must not inherit the connection.
    if (socket_.is_open()) ::fcntl(socket_.native_handle(), F_SETFD, FD_CLOEXEC);
    touch();
}

TransportClient::~TransportClient() = default;

void TransportClient::touch() noexcept { last_io_ns_.store(steady_ns(), std::memory_order_relaxed); }

std::string TransportClient::peer_description() const {
    return fmt::format("{} {}", role_ == Role::accepted ? "client" : "server", remote_.host_port());
}

void TransportClient::start() {
    const auto& sec = options_.security;
    if (!sec || !sec->authenticate) {
        if (role_ == Role::accepted) arm_first_frame_timer();
        established();
        return;
    }
    try {
        handshake_ = std::make_unique<security::AuthHandshake>(
            role_ == Role::connected ? security::AuthHandshake::Side::client : security::AuthHandshake::Side::server,
            *sec, remote_.host_port());  // the handshake names the peer's role itself
    } catch (const std::exception& e) {
        close(RpcError{RpcErrc::authentication_failed, fmt::format("authentication failed: {}", e.what())}, true);
        return;
    }
    if (sec->timeout.count() > 0) {
        handshake_timer_ = std::make_unique<net::steady_timer>(socket_.get_executor(), sec->timeout);
        handshake_timer_->async_wait([weak = weak_from_this(), ms = sec->timeout.count()](const boost::system::error_code& ec) {
            auto self = weak.lock();
            if (ec || !self) return;
            self->close(RpcError{RpcErrc::authentication_failed,
                                 fmt::format("authentication failed: the handshake with {} did not finish within {} ms "
                                             "(ember.network.auth.rpcTimeout)",
                                             self->peer_description(), ms)},
                        true);
        });
    }
    pump_handshake();
}

void TransportClient::pump_handshake() {
    auto out = std::make_shared<std::vector<std::byte>>(handshake_->take_output());
    if (out->empty()) {
        continue_handshake();
        return;
    }
    std::lock_guard io(io_mu_);
    if (!is_active()) return;
    net::async_write(socket_, net::buffer(*out), [self = shared_from_this(), out](const boost::system::error_code& ec, std::size_t) {
        if (ec) {
            self->close(RpcError{RpcErrc::authentication_failed,
                                 fmt::format("authentication failed: connection to {} failed during the handshake: {}",
                                             self->peer_description(), ec.message())},
                        true);
            return;
        }
        self->continue_handshake();
    });
}

void TransportClient::continue_handshake() {
    if (handshake_->failed()) {
        // Once per connection (the peer learns why from the failure record just sent).
        log::peer_log("transport", spdlog::level::warn, remote_.host, "{}", handshake_->error().message);
        if (role_ == Role::accepted) {
            linger_then_close(handshake_->error());
        } else {
            close(handshake_->error(), true);
        }
        return;
    }
    if (handshake_->done()) {
        established();
        return;
    }
    handshake_in_.resize(handshake_->wants());
    std::lock_guard io(io_mu_);
    if (!is_active()) return;
    net::async_read(socket_, net::buffer(handshake_in_), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
        if (ec) {
            self->close(RpcError{RpcErrc::authentication_failed,
                                 fmt::format("authentication failed: {} closed the connection during the handshake{}",
                                             self->peer_description(),
                                             self->role_ == Role::connected ? " (is ember.authenticate on there, with the "
                                                                              "same secret?)"
                                                                            : "")},
                        true);
            return;
        }
        self->handshake_->feed(self->handshake_in_);
        self->pump_handshake();
    });
}

void TransportClient::linger_then_close(RpcError why) {
    // Closing a socket with unread bytes makes the kernel send a reset, and a reset may discard
    // the failure record before the peer reads it (the peer then only sees a broken pipe). So:
    // FIN after the record, then read and drop what the peer sends, for at most 1 s and 64 KiB,
    // before the close.
    {
        std::lock_guard io(io_mu_);
        if (!is_active()) return;
        boost::system::error_code ec;
        socket_.shutdown(tcp::socket::shutdown_send, ec);
    }
    handshake_in_.assign(4096, std::byte{0});
    linger_timer_ = std::make_unique<net::steady_timer>(socket_.get_executor(), std::chrono::seconds(1));
    linger_timer_->async_wait([weak = weak_from_this(), why](const boost::system::error_code& ec) {
        if (auto self = weak.lock(); self && !ec) self->close(why, true);
    });
    drain_then_close(std::move(why), 0);
}

void TransportClient::drain_then_close(RpcError why, std::size_t drained) {
    std::lock_guard io(io_mu_);
    if (!is_active()) return;
    socket_.async_read_some(net::buffer(handshake_in_), [self = shared_from_this(), why = std::move(why), drained](
                                                            const boost::system::error_code& ec, std::size_t n) mutable {
        if (ec || drained + n > 64 * 1024) {
            if (self->linger_timer_) self->linger_timer_->cancel();
            self->close(std::move(why), true);
            return;
        }
        self->drain_then_close(std::move(why), drained + n);
    });
}

void TransportClient::established() {
    if (handshake_timer_) handshake_timer_->cancel();
    if (handshake_) {
        if (handshake_->encrypted()) {
            const auto& k = handshake_->keys();
            sealer_ = std::make_unique<security::RecordCipher>(k.send_key, k.send_iv);
            opener_ = std::make_unique<security::RecordCipher>(k.recv_key, k.recv_iv);
        }
        handshake_.reset();
        handshake_in_ = {};
    }
    bool flush = false;
    {
        std::lock_guard lk(mu_);
        established_ = true;
        if (!queue_.empty() && !flush_pending_ && !closed_.load(std::memory_order_relaxed)) {
            flush_pending_ = true;  // frames sent during the handshake go out now
            flush = true;
        }
    }
    handler_.on_established(shared_from_this());
    if (flush) schedule_flush();
    start_read();
}

void TransportClient::arm_first_frame_timer() {
    if (options_.first_frame_timeout.count() <= 0) return;
    first_frame_timer_ = std::make_unique<net::steady_timer>(socket_.get_executor(), options_.first_frame_timeout);
    first_frame_timer_->async_wait([weak = weak_from_this(), ms = options_.first_frame_timeout.count()](
                                       const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self) return;
        self->close(RpcError{RpcErrc::connection_closed,
                             fmt::format("Connection from {} closed: no complete frame within {} ms "
                                         "(ember.network.auth.rpcTimeout)",
                                         self->remote_.host_port(), ms)},
                    true);
    });
}

RpcResult<BodyAction> TransportClient::body_action(const rpc_wire::Envelope::Reader& envelope) {
    switch (envelope.getKind()) {
        case rpc_wire::Kind::RESPONSE:
        case rpc_wire::Kind::FAILURE: {
            // The reply to a request sent on this connection: asked for, so not counted.
            std::lock_guard lk(mu_);
            return outstanding_.count(envelope.getRequestId()) ? BodyAction::buffer_asked : BodyAction::discard;
        }
        case rpc_wire::Kind::REQUEST:
        case rpc_wire::Kind::ONE_WAY: {
            auto name = envelope.getReceiver();
            return handler_.has_receiver(std::string_view(name.begin(), name.size())) ? BodyAction::buffer
                                                                                     : BodyAction::discard;
        }
        default:
            return BodyAction::discard;
    }
}

RpcAddress TransportClient::peer_env_address() const {
    std::lock_guard lk(mu_);
    return peer_env_;
}

bool TransportClient::set_peer_env_address(const RpcAddress& a) {
    if (peer_known_.load(std::memory_order_acquire)) return false;  // every frame asks: no lock
    std::lock_guard lk(mu_);
    if (!peer_env_.empty()) return false;
    peer_env_ = a;
    peer_known_.store(true, std::memory_order_release);
    return true;
}

// -- reading -------------------------------------------------------------------------------------

void TransportClient::start_read() {
    std::lock_guard io(io_mu_);
    if (!is_active()) return;
    if (opener_) {
        if (!rx_) rx_ = std::make_unique_for_overwrite<std::byte[]>(kSealedRead);
        socket_.async_read_some(net::buffer(rx_.get() + rx_len_, kSealedRead - rx_len_),
                                [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                                    self->on_read_sealed(ec, n);
                                });
        return;
    }
    auto body = decoder_.body_remaining();
    if (body.size() >= kDirectBodyRead) {
        // A large body is read straight into its buffer, not through the frame buffer.
        net::async_read(socket_, net::buffer(body.data(), body.size()),
                        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                            if (!ec) self->decoder_.commit_body(n);
                            self->on_read(ec, 0);
                        });
        return;
    }
    auto buf = decoder_.prepare(read_size());
    if (buf.empty()) {
        // Refused by the memory limits, or out of memory: never left half-alive.
        net::post(socket_.get_executor(), [self = shared_from_this()] { self->on_read({}, 0); });
        return;
    }
    socket_.async_read_some(net::buffer(buf.data(), buf.size()),
                            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                                if (!ec) self->decoder_.commit(n);
                                self->on_read(ec, n);
                            });
}

void TransportClient::on_read(const boost::system::error_code& ec, std::size_t) {
    if (ec) {
        if (ec == net::error::eof || ec == net::error::operation_aborted || ec == net::error::bad_descriptor) {
            close(RpcError{RpcErrc::connection_closed, fmt::format("Connection from {} closed", remote_.host_port())});
        } else {
            close(RpcError{RpcErrc::connection_closed,
                           fmt::format("Connection from {} failed: {}", remote_.host_port(), ec.message())},
                  true);
        }
        return;
    }
    touch();
    process_frames();
}

void TransportClient::on_read_sealed(const boost::system::error_code& ec, std::size_t n) {
    if (ec) {
        on_read(ec, 0);
        return;
    }
    rx_len_ += n;
    std::size_t at = 0;
    auto corrupt = [&](const char* why) {
        close(RpcError{RpcErrc::protocol_error, fmt::format("Connection from {} closed: {}", remote_.host_port(), why)},
              true);
    };
    while (rx_len_ - at >= security::RecordCipher::kHeader) {
        auto len = security::RecordCipher::plaintext_length(
            std::span<const std::byte, security::RecordCipher::kHeader>(rx_.get() + at, security::RecordCipher::kHeader));
        if (!len) return corrupt("an encrypted record of an impossible length");
        std::size_t whole = *len + security::RecordCipher::kOverhead;
        if (rx_len_ - at < whole) break;
        // A record inside a large body opens straight into the body's buffer (nothing waits in
        // the frame buffer before it); others go through the frame buffer.
        auto body = decoder_.body_remaining();
        const bool direct = decoder_.buffered() == 0 && body.size() >= *len;
        auto dst = direct ? body : decoder_.prepare(*len);
        if (dst.empty()) {
            process_frames();  // reports the decoder's error
            return;
        }
        if (!opener_->open({rx_.get() + at, whole}, dst.data())) {
            return corrupt("an encrypted record does not authenticate (corrupt, replayed or forged)");
        }
        if (direct) {
            decoder_.commit_body(*len);
        } else {
            decoder_.commit(*len);
        }
        at += whole;
    }
    if (at > 0) {
        std::memmove(rx_.get(), rx_.get() + at, rx_len_ - at);
        rx_len_ -= at;
    }
    touch();
    process_frames();
}

void TransportClient::process_frames() {
    auto self = shared_from_this();
    {
        FlushScope flushes;  // replies sent by the handlers below go out right after them
        for (;;) {
            auto frame = decoder_.next();
            if (!frame) {
                log::peer_log("transport", spdlog::level::warn, remote_.host, "Closing connection from {}: {}",
                              remote_.host_port(), frame.error().message);
                close(RpcError{frame.error().code, fmt::format("Connection from {} closed: {}", remote_.host_port(),
                                                               frame.error().message)},
                      true);
                return;
            }
            if (!*frame) break;
            if (!got_frame_) {
                got_frame_ = true;
                if (first_frame_timer_) first_frame_timer_->cancel();
            }
            handler_.on_frame(self, std::move(**frame));
            if (!is_active()) return;
        }
    }
    read_on();
}

void TransportClient::read_on() {
    if (!opener_ && decoder_.body_remaining().size() < kDirectBodyRead) {
        if (auto* poller = ReadPoller::current()) {
            poller->take(shared_from_this());
            return;
        }
    }
    start_read();
}

std::size_t TransportClient::read_size() {
    // Within a large frame, room for what the socket already holds of it: one read then takes
    // it all, where a buffer doubling from 16 KiB took a dozen reads and copied what it held at
    // each step (a 2.7 MB frame: 12 reads). Memory still follows the bytes received.
    const std::size_t missing = decoder_.frame_missing();
    if (missing <= kReadChunk) return kReadChunk;
    int queued = 0;
    if (::ioctl(socket_.native_handle(), FIONREAD, &queued) != 0 || queued <= 0) return kReadChunk;
    return std::max(kReadChunk, std::min(missing, static_cast<std::size_t>(queued)));
}

bool TransportClient::read_now() {
    auto buf = decoder_.prepare(read_size());
    if (buf.empty()) {
        start_read();  // reports the refusal through on_read
        return true;
    }
    ssize_t n;
    int err = 0;
    {
        std::lock_guard io(io_mu_);
        if (!is_active()) return true;  // closing: not polled any more
        n = ::recv(socket_.native_handle(), buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0) err = errno;
    }
    if (n > 0) {
        decoder_.commit(static_cast<std::size_t>(n));
        on_read({}, static_cast<std::size_t>(n));
        return true;
    }
    if (n == 0) {
        on_read(net::error::eof, 0);
        return true;
    }
    if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) return false;
    on_read(boost::system::error_code(err, boost::system::system_category()), 0);
    return true;
}

// -- writing -------------------------------------------------------------------------------------

SendResult TransportClient::send(std::unique_ptr<detail::OutgoingData>&& data, std::uint64_t request_id,
                                 WhenFull when_full, std::chrono::steady_clock::time_point deadline) {
    Frame f;
    auto segments = data->builder.getSegmentsForOutput();
    f.table.resize(segment_table_bytes(segments.size()), boost::container::default_init);
    write_segment_table(segments, f.table.data());
    f.cost = memory_cost(*data, f.table.size());
    bool schedule = false;
    {
        std::unique_lock lk(mu_);
        // A frame always fits an empty queue, however big: the bound is on what waits.
        auto has_room = [&] { return queued_bytes_ == 0 || queued_bytes_ + f.cost <= options_.max_queued_bytes; };
        if (!closed_.load(std::memory_order_relaxed) && !has_room() && when_full != WhenFull::exceed) {
            if (when_full == WhenFull::fail) return SendResult::full;
            ++room_waiters_;
            room_.wait_until(lk, deadline, [&] { return closed_.load(std::memory_order_relaxed) || has_room(); });
            --room_waiters_;
            if (!closed_.load(std::memory_order_relaxed) && !has_room()) return SendResult::full;
        }
        if (closed_.load(std::memory_order_relaxed)) return SendResult::closed;
        f.data = std::move(data);
        queued_bytes_ += f.cost;
        queue_.push_back(std::move(f));
        if (request_id != 0) {
            outstanding_.insert(request_id);
            last_request_ns_.store(steady_ns(), std::memory_order_relaxed);
        }
        if (!flush_pending_) {
            flush_pending_ = true;
            schedule = true;
        }
    }
    // One flush per batch: every frame queued before it runs (by the current handler, say)
    // goes out in the same writev. Posted from an I/O thread this costs no wake-up.
    if (schedule) schedule_flush();
    return SendResult::queued;
}

void TransportClient::schedule_flush() {
    if (FlushScope::defer(shared_from_this())) return;
    // This thread set flush_pending_, so the flush is its to run (flushes are serialised).
    if (write_through_here()) {
        flush();
        return;
    }
    post_flush();
}

bool TransportClient::write_through_here() {
    return WriteThroughScope::active() && !detail::MessageLoop::on_any_loop_thread();
}

void TransportClient::post_flush() {
    net::post(socket_.get_executor(), [self = shared_from_this()] { self->flush(); });
}

void TransportClient::flush() {
    // Flushes are serialised (flush_pending_), so one Batch is reused: its vectors keep their
    // capacity from one flush to the next.
    std::shared_ptr<Batch> batch = std::move(spare_batch_);
    if (!batch) batch = std::make_shared<Batch>();
    {
        std::lock_guard lk(mu_);
        if (queue_.empty() || closed_.load(std::memory_order_relaxed) || !established_) {
            flush_pending_ = false;  // before the handshake ends, established() restarts it
            spare_batch_ = std::move(batch);
            return;
        }
        for (auto& f : queue_) batch->frames.push_back(std::move(f));
        queue_.clear();
    }
    batch->build();
    write_batch(std::move(batch));
}

void TransportClient::write_batch(std::shared_ptr<Batch> batch) {
    if (sealer_) {
        write_batch_sealed(std::move(batch));
        return;
    }
    int fd = socket_.native_handle();
    std::unique_lock io(io_mu_);
    while (batch->piece < batch->pieces.size()) {
        if (!is_active()) return;
        if (auto* file = std::get_if<Batch::FilePiece>(&batch->pieces[batch->piece])) {
            const FileRegion& r = file->region;
            off_t off = static_cast<off_t>(r.offset + batch->offset);
            std::uint64_t left = r.length - batch->offset;
            ssize_t n;
            {
                NoSigpipe guard;  // a peer that reset the connection gets EPIPE, not our process
                n = ::sendfile(fd, r.file->fd(), &off, static_cast<std::size_t>(std::min<std::uint64_t>(left, 1u << 30)));
            }
            if (n > 0) {
                batch->offset += static_cast<std::uint64_t>(n);
                if (batch->offset == r.length) {
                    ++batch->piece;
                    batch->offset = 0;
                    release(batch->take_written_cost());
                }
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                wait_writable(std::move(batch));
                return;
            }
            std::string why = n == 0 ? "file shorter than the announced body" : std::strerror(errno);
            io.unlock();
            log::peer_log("transport", spdlog::level::warn, remote_.host, "sendfile to {} failed: {}",
                          remote_.host_port(), why);
            close(write_failure(why), true);
            return;
        }
        // Gather the memory pieces up to the next file piece into one writev.
        iovec iov[64];
        int count = 0;
        for (std::size_t i = batch->piece; i < batch->pieces.size() && count < 64; ++i) {
            auto* b = std::get_if<net::const_buffer>(&batch->pieces[i]);
            if (!b) break;
            std::size_t skip = i == batch->piece ? static_cast<std::size_t>(batch->offset) : 0;
            iov[count].iov_base = const_cast<char*>(static_cast<const char*>(b->data()) + skip);
            iov[count].iov_len = b->size() - skip;
            ++count;
        }
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = static_cast<std::size_t>(count);
        ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);  // EPIPE, never SIGPIPE
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            wait_writable(std::move(batch));
            return;
        }
        if (n < 0) {
            std::string why = std::strerror(errno);
            io.unlock();
            close(write_failure(why), true);
            return;
        }
        // Advance the cursor by n bytes.
        auto left = static_cast<std::size_t>(n);
        while (left > 0) {
            auto& b = std::get<net::const_buffer>(batch->pieces[batch->piece]);
            std::size_t rest = b.size() - static_cast<std::size_t>(batch->offset);
            if (left < rest) {
                batch->offset += left;
                left = 0;
            } else {
                left -= rest;
                ++batch->piece;
                batch->offset = 0;
            }
        }
        release(batch->take_written_cost());
    }
    io.unlock();
    batch_written(std::move(batch));
}

void TransportClient::wait_writable(std::shared_ptr<Batch> batch) {
    if (write_through_here()) {
        // A write-through (WriteThroughScope) that would block: the I/O thread finishes it.
        net::post(socket_.get_executor(), [self = shared_from_this(), batch = std::move(batch)]() mutable {
            self->wait_writable(std::move(batch));
        });
        return;
    }
    socket_.async_wait(tcp::socket::wait_write, [self = shared_from_this(), batch](const boost::system::error_code& ec) {
        if (ec) return;  // closed
        self->write_batch(batch);
    });
}

void TransportClient::batch_written(std::shared_ptr<Batch> batch) {
    touch();
    batch->frames.clear();
    batch->pieces.clear();
    batch->frame_ends.clear();
    batch->piece = 0;
    batch->offset = 0;
    batch->released = 0;
    spare_batch_ = std::move(batch);
    finish_flush();
}

void TransportClient::write_batch_sealed(std::shared_ptr<Batch> batch) {
    using security::RecordCipher;
    int fd = socket_.native_handle();
    std::unique_lock io(io_mu_);
    if (!tx_) {
        tx_ = std::make_unique_for_overwrite<std::byte[]>(kSealedWrite);
        plain_ = std::make_unique_for_overwrite<std::byte[]>(RecordCipher::kMaxPlaintext);
    }
    auto fail = [&](const std::string& why) {
        io.unlock();
        close(write_failure(why), true);
    };
    for (;;) {
        if (!is_active()) return;
        // Write what is sealed.
        while (tx_sent_ < tx_len_) {
            ssize_t n = ::send(fd, tx_.get() + tx_sent_, tx_len_ - tx_sent_, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                wait_writable(std::move(batch));
                return;
            }
            if (n < 0) return fail(std::strerror(errno));
            tx_sent_ += static_cast<std::size_t>(n);
        }
        tx_sent_ = tx_len_ = 0;
        if (batch->piece >= batch->pieces.size()) break;
        // Seal the next records: each takes up to 64 KiB of the pieces, memory or file.
        while (batch->piece < batch->pieces.size() &&
               kSealedWrite - tx_len_ >= RecordCipher::kMaxPlaintext + RecordCipher::kOverhead) {
            std::size_t filled = 0;
            while (filled < RecordCipher::kMaxPlaintext && batch->piece < batch->pieces.size()) {
                std::size_t room = RecordCipher::kMaxPlaintext - filled;
                std::uint64_t left;
                if (auto* b = std::get_if<net::const_buffer>(&batch->pieces[batch->piece])) {
                    left = b->size() - batch->offset;
                    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, room));
                    std::memcpy(plain_.get() + filled, static_cast<const std::byte*>(b->data()) + batch->offset, n);
                    filled += n;
                    batch->offset += n;
                } else {
                    const FileRegion& r = std::get<Batch::FilePiece>(batch->pieces[batch->piece]).region;
                    left = r.length - batch->offset;
                    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, room));
                    ssize_t n = ::pread(r.file->fd(), plain_.get() + filled, want,
                                        static_cast<off_t>(r.offset + batch->offset));
                    if (n < 0 && errno == EINTR) continue;
                    if (n <= 0) return fail(n == 0 ? "file shorter than the announced body" : std::strerror(errno));
                    filled += static_cast<std::size_t>(n);
                    batch->offset += static_cast<std::uint64_t>(n);
                }
                if (batch->offset == (std::holds_alternative<net::const_buffer>(batch->pieces[batch->piece])
                                          ? std::get<net::const_buffer>(batch->pieces[batch->piece]).size()
                                          : std::get<Batch::FilePiece>(batch->pieces[batch->piece]).region.length)) {
                    ++batch->piece;
                    batch->offset = 0;
                    release(batch->take_written_cost());
                }
            }
            tx_len_ += sealer_->seal({plain_.get(), filled}, tx_.get() + tx_len_);
        }
    }
    io.unlock();
    batch_written(std::move(batch));
}

RpcError TransportClient::write_failure(const std::string& why) {
    // A peer that refused this connection (no handshake, or a failed one) sent a failure record
    // before it closed: its reason says more than the broken pipe it caused.
    std::byte peek[security::kFailMagic.size() + 2 + 512];
    ssize_t n = ::recv(socket_.native_handle(), peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
        if (auto text = security::parse_failure_record({peek, static_cast<std::size_t>(n)})) {
            return RpcError{RpcErrc::authentication_failed,
                            fmt::format("the peer {} refused the connection: {}", remote_.host_port(), *text)};
        }
    }
    return RpcError{RpcErrc::connection_closed,
                    fmt::format("Connection to {} failed while writing: {}", remote_.host_port(), why)};
}

void TransportClient::release(std::uint64_t n) {
    if (n == 0) return;
    bool notify;
    {
        std::lock_guard lk(mu_);
        queued_bytes_ -= std::min(queued_bytes_, n);  // a close may have zeroed it meanwhile
        notify = room_waiters_ > 0;
    }
    if (notify) room_.notify_all();
}

void TransportClient::finish_flush() {
    bool again = false;
    {
        std::lock_guard lk(mu_);
        if (!queue_.empty() && !closed_.load(std::memory_order_relaxed)) {
            again = true;  // frames queued while we wrote: keep flush_pending_ and go on
        } else {
            flush_pending_ = false;
        }
    }
    if (again) {
        // Not recursive, and on the I/O thread even after a write-through: other work gets a
        // turn first, and the sender's thread goes back to its own.
        if (!FlushScope::defer(shared_from_this())) post_flush();
    }
}

// -- requests and cancellation -------------------------------------------------------------------

void TransportClient::complete_request(std::uint64_t request_id) {
    std::lock_guard lk(mu_);
    outstanding_.erase(request_id);
}

void TransportClient::mark_cancelled(std::uint64_t request_id) {
    std::lock_guard lk(mu_);
    if (cancelled_.size() >= kMaxCancelled) cancelled_.clear();
    cancelled_.insert(request_id);
    cancelled_count_.store(static_cast<int>(cancelled_.size()), std::memory_order_release);
}

bool TransportClient::is_cancelled(std::uint64_t request_id, bool forget) {
    if (cancelled_count_.load(std::memory_order_acquire) == 0) return false;  // the usual case: no lock
    std::lock_guard lk(mu_);
    auto it = cancelled_.find(request_id);
    if (it == cancelled_.end()) return false;
    if (forget) {
        cancelled_.erase(it);
        cancelled_count_.store(static_cast<int>(cancelled_.size()), std::memory_order_release);
    }
    return true;
}

void TransportClient::check_idle(std::chrono::milliseconds timeout) {
    std::int64_t now = steady_ns();
    std::int64_t quiet = now - std::max(last_io_ns_.load(std::memory_order_relaxed),
                                        last_request_ns_.load(std::memory_order_relaxed));
    {
        std::lock_guard lk(mu_);
        if (outstanding_.empty() || closed_.load(std::memory_order_relaxed)) return;
    }
    if (quiet < std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count()) return;
    std::string msg = fmt::format(
        "Connection to {} has been quiet for {} ms while there are outstanding requests. Assuming connection is "
        "dead; please adjust ember.rpc.io.connectionTimeout if this is wrong",
        remote_.host_port(), quiet / 1'000'000);
    log::get("transport")->error("{}", msg);
    close(RpcError{RpcErrc::connection_closed, msg}, true);
}

// -- closing -------------------------------------------------------------------------------------

void TransportClient::close(RpcError why, bool failed) {
    {
        std::lock_guard lk(mu_);
        if (closed_.exchange(true)) return;
        close_reason_ = std::move(why);
        close_failed_ = failed;
    }
    room_.notify_all();
    net::post(socket_.get_executor(), [self = shared_from_this()] { self->finish_close(); });
}

void TransportClient::finish_close() {
    if (close_notified_.exchange(true)) return;
    {
        std::lock_guard io(io_mu_);
        boost::system::error_code ec;
        socket_.shutdown(tcp::socket::shutdown_both, ec);
        socket_.close(ec);  // pending operations complete with operation_aborted
    }
    std::vector<std::uint64_t> outstanding;
    RpcError why;
    bool failed;
    std::size_t one_way = 0;  // queued one-way frames lost with the connection
    {
        std::lock_guard lk(mu_);
        outstanding.assign(outstanding_.begin(), outstanding_.end());
        outstanding_.clear();
        cancelled_.clear();
        // Asks queued here fail through `outstanding`, and the peer of queued replies sees the
        // close fail its asks; one-way frames have nobody to tell, so they are logged.
        for (auto& f : queue_) one_way += f.data->envelope.getKind() == rpc_wire::Kind::ONE_WAY ? 1 : 0;
        queue_.clear();
        queued_bytes_ = 0;
        why = close_reason_;
        failed = close_failed_;
    }
    if (one_way > 0 && why.code != RpcErrc::env_stopped) {
        log::get("transport")->warn("Dropped {} unsent one-way message(s) to {}: {}", one_way, remote_.host_port(),
                                    why.message);
    }
    handler_.on_closed(shared_from_this(), why, failed, std::move(outstanding));
}

}  // namespace ember::rpc::transport
