// SPDX-License-Identifier: Apache-2.0
#include "shuffle/compression.hpp"

#include "rpc/log.hpp"
#include "storage/serializer.hpp"

#include <lz4frame.h>
#define XXH_STATIC_LINKING_ONLY  // XXH32_state_t by value, in the decompressor's context
#include <xxhash.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

namespace ember::shuffle {
namespace {

struct DctxDeleter {
    void operator()(LZ4F_dctx* c) const { LZ4F_freeDecompressionContext(c); }
};

// The LZ4 frame format (lz4's doc/lz4_Frame_format.md): magic, FLG, BD, [content size],
// [dictionary id], HC; blocks; end mark; [content checksum: XXH32 of the content, seed 0].
constexpr std::uint32_t kFrameMagic = 0x184D2204;
constexpr std::uint8_t kFlgContentChecksum = 0x04;
constexpr std::uint8_t kFlgBlockChecksum = 0x10;
constexpr std::uint8_t kFlgContentSize = 0x08;
constexpr std::uint8_t kFlgDictId = 0x01;

std::uint32_t load_le32(const unsigned char* p) noexcept {
    return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
           static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

/// Whether the frame that `p` (`n` bytes) starts with carries a content checksum and no block
/// checksums: then its reader may pass LZ4F's skipChecksums and check the content with
/// libxxhash's XXH32 instead (see lz4_compress_append). False when `p` is too short to tell.
bool checksum_by_us(const char* p, std::size_t n) noexcept {
    if (n < 5) return false;
    auto* u = reinterpret_cast<const unsigned char*>(p);
    return load_le32(u) == kFrameMagic && (u[4] & kFlgContentChecksum) && !(u[4] & kFlgBlockChecksum);
}

[[noreturn]] void throw_checksum_mismatch() {
    throw DecodeError("corrupt LZ4 data: ERROR_contentChecksum_invalid (the content's XXH32 differs from the frame's)");
}

LZ4F_preferences_t frame_preferences(std::size_t content) {
    LZ4F_preferences_t prefs{};
    prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;  // added by compress_frame
    prefs.frameInfo.contentSize = content;
    prefs.frameInfo.blockSizeID = LZ4F_max256KB;
    prefs.compressionLevel = 0;  // fast mode
    return prefs;
}

/// Writes `in` as one LZ4 frame with a content checksum to `to` (room for lz4_frame_bound bytes);
/// returns its size.
///
/// LZ4F computes a frame's content checksum with its own copy of XXH32, which Debian's liblz4
/// 1.9.4 builds into an SSE2 loop that runs at a quarter of libxxhash's XXH32 on this machine
/// class (about 1.8 against 7.6 GB/s; it cost a third of compression and two thirds of
/// decompression). So the frame is written without one and then given the checksum the format
/// defines: the FLG bit set, the header checksum byte recomputed, XXH32 of the content
/// appended. The result is byte for byte the frame LZ4F writes with contentChecksumFlag.
std::size_t compress_frame(std::string_view in, char* to, std::size_t room) {
    LZ4F_preferences_t prefs = frame_preferences(in.size());
    std::size_t n = LZ4F_compressFrame(to, room - 4, in.data(), in.size(), &prefs);
    if (LZ4F_isError(n) || n < 7) {
        throw std::runtime_error(std::string("LZ4 compression failed: ") +
                                 (LZ4F_isError(n) ? LZ4F_getErrorName(n) : "short frame"));
    }
    auto* frame = reinterpret_cast<unsigned char*>(to);
    frame[4] |= kFlgContentChecksum;
    std::size_t descriptor = 2 + (frame[4] & kFlgContentSize ? 8 : 0) + (frame[4] & kFlgDictId ? 4 : 0);
    frame[4 + descriptor] = static_cast<unsigned char>((XXH32(frame + 4, descriptor, 0) >> 8) & 0xFF);
    std::uint32_t sum = XXH32(in.data(), in.size(), 0);
    for (int i = 0; i < 4; ++i) frame[n + i] = static_cast<unsigned char>(sum >> (8 * i));
    return n + 4;
}

}  // namespace

std::size_t lz4_frame_bound(std::size_t content) {
    LZ4F_preferences_t prefs = frame_preferences(content);
    return LZ4F_compressFrameBound(content, &prefs) + 4;  // + the content checksum compress_frame adds
}

void lz4_compress_append(std::string_view in, std::string& out) {
    std::size_t bound = lz4_frame_bound(in.size());
    std::size_t at = out.size();
    out.resize(at + bound);
    try {
        out.resize(at + compress_frame(in, out.data() + at, bound));
    } catch (...) {
        out.resize(at);
        throw;
    }
}

std::size_t lz4_compress_to(std::string_view in, char* to, std::size_t room) {
    EMBER_REQUIRE(room >= lz4_frame_bound(in.size()), "lz4_compress_to: {} bytes of room, {} needed", room,
                  lz4_frame_bound(in.size()));
    return compress_frame(in, to, room);
}

std::size_t lz4_compress_into(std::string_view in, std::string& buf) {
    std::size_t bound = lz4_frame_bound(in.size());
    if (buf.size() < bound) buf.resize(bound);
    return compress_frame(in, buf.data(), buf.size());
}

void lz4_decompress_append(std::span<const std::byte> in, std::string& out) {
    thread_local std::unique_ptr<LZ4F_dctx, DctxDeleter> ctx = [] {
        LZ4F_dctx* c = nullptr;
        LZ4F_createDecompressionContext(&c, LZ4F_VERSION);
        return std::unique_ptr<LZ4F_dctx, DctxDeleter>(c);
    }();
    LZ4F_resetDecompressionContext(ctx.get());
    const char* src = reinterpret_cast<const char*>(in.data());
    std::size_t left = in.size();
    while (left > 0) {
        // Size the output from the frame header when it carries the content size.
        LZ4F_frameInfo_t info{};
        std::size_t header = left;
        std::size_t r = LZ4F_getFrameInfo(ctx.get(), &info, src, &header);
        if (LZ4F_isError(r)) {
            throw DecodeError(std::string("corrupt LZ4 frame header: ") + LZ4F_getErrorName(r));
        }
        src += header;
        left -= header;
        // A content size from the header is believed only as far as LZ4 can expand the bytes
        // left (at most 255x): a header of a few bytes may claim 2^64.
        std::size_t bound = left < SIZE_MAX / 256 ? 255 * left + 64 : SIZE_MAX / 2;
        std::size_t grow = info.contentSize ? static_cast<std::size_t>(std::min<std::uint64_t>(info.contentSize, bound))
                                            : 4 * left + 64;
        // The content checksum is checked here with libxxhash (see lz4_compress_append).
        LZ4F_decompressOptions_t options{};
        options.skipChecksums = info.contentChecksumFlag == LZ4F_contentChecksumEnabled &&
                                info.blockChecksumFlag != LZ4F_blockChecksumEnabled;
        std::size_t content = out.size();
        for (;;) {
            std::size_t at = out.size();
            out.resize(at + grow);
            std::size_t dst_size = grow;
            std::size_t src_size = left;
            r = LZ4F_decompress(ctx.get(), out.data() + at, &dst_size, src, &src_size, &options);
            out.resize(at + dst_size);
            if (LZ4F_isError(r)) {
                LZ4F_resetDecompressionContext(ctx.get());
                throw DecodeError(std::string("corrupt LZ4 data: ") + LZ4F_getErrorName(r));
            }
            src += src_size;
            left -= src_size;
            if (r == 0) {  // frame complete: its last 4 bytes, just read, are the checksum
                if (options.skipChecksums &&
                    XXH32(out.data() + content, out.size() - content, 0) !=
                        load_le32(reinterpret_cast<const unsigned char*>(src) - 4)) {
                    throw_checksum_mismatch();
                }
                break;
            }
            if (left == 0) {
                LZ4F_resetDecompressionContext(ctx.get());
                throw DecodeError("LZ4 frame is truncated");
            }
            grow = std::max<std::size_t>(r, 64 * 1024);
        }
    }
}

struct Lz4StreamDecompressor::Ctx {
    LZ4F_dctx* dctx = nullptr;
    bool at_frame_start = true;  ///< no byte of the next frame consumed yet
    bool skip = false;           ///< this frame's content checksum is checked here, not by LZ4F
    XXH32_state_t content{};     ///< XXH32 of this frame's content so far (with skip)
    unsigned char tail[4]{};     ///< the last 4 bytes consumed (with skip): at the frame's end, its checksum

    void consumed(const char* p, std::size_t n) noexcept {
        if (n >= 4) {
            std::memcpy(tail, p + n - 4, 4);
        } else if (n > 0) {
            std::memmove(tail, tail + n, 4 - n);
            std::memcpy(tail + 4 - n, p, n);
        }
    }
};

Lz4StreamDecompressor::Lz4StreamDecompressor() : ctx_(std::make_unique<Ctx>()) {
    std::size_t r = LZ4F_createDecompressionContext(&ctx_->dctx, LZ4F_VERSION);
    if (LZ4F_isError(r)) throw std::runtime_error(std::string("LZ4 context: ") + LZ4F_getErrorName(r));
}

Lz4StreamDecompressor::~Lz4StreamDecompressor() { LZ4F_freeDecompressionContext(ctx_->dctx); }

Lz4StreamDecompressor::Progress Lz4StreamDecompressor::decompress(std::span<const std::byte> in,
                                                                  std::span<char> out) {
    static const char kNone = 0;
    const char* src = in.empty() ? &kNone : reinterpret_cast<const char*>(in.data());
    std::size_t left = in.size();
    std::size_t produced = 0;
    // Also with no input: the context may hold decoded bytes that did not fit `out` last time.
    while (produced < out.size()) {
        Ctx& c = *ctx_;
        if (c.at_frame_start) {
            // Whether this frame's content checksum is checked here (see lz4_compress_append)
            // is known from its FLG byte; a header cut before it leaves the check to LZ4F.
            c.skip = checksum_by_us(src, left);
            if (c.skip) XXH32_reset(&c.content, 0);
        }
        LZ4F_decompressOptions_t options{};
        options.skipChecksums = c.skip;
        std::size_t dst_size = out.size() - produced;
        std::size_t src_size = left;
        // After a frame ends (r == 0) the context starts the next frame by itself.
        std::size_t r = LZ4F_decompress(c.dctx, out.data() + produced, &dst_size, src, &src_size, &options);
        if (LZ4F_isError(r)) {
            LZ4F_resetDecompressionContext(c.dctx);
            c.at_frame_start = true;
            throw DecodeError(std::string("corrupt LZ4 data: ") + LZ4F_getErrorName(r));
        }
        if (src_size == 0 && dst_size == 0) break;  // needs more input (r is then only a size hint)
        c.at_frame_start = false;
        if (c.skip) {
            XXH32_update(&c.content, out.data() + produced, dst_size);
            c.consumed(src, src_size);
        }
        produced += dst_size;
        src += src_size;
        left -= src_size;
        in_frame_ = r != 0;  // 0: a frame ended and all of it was handed out
        if (r == 0) {
            c.at_frame_start = true;
            if (c.skip && XXH32_digest(&c.content) != load_le32(c.tail)) {
                LZ4F_resetDecompressionContext(c.dctx);
                throw_checksum_mismatch();
            }
        }
    }
    return {in.size() - left, produced};
}

void Lz4StreamDecompressor::finish() const {
    if (in_frame_) throw DecodeError("LZ4 frame is truncated");
}

}  // namespace ember::shuffle
