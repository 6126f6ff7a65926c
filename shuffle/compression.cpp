// SPDX-License-Identifier: Apache-2.0
#include "shuffle/compression.hpp"

#include "storage/serializer.hpp"

#include <lz4frame.h>

#include <algorithm>
#include <cstdint>
#include <memory>

namespace ember::shuffle {
namespace {

struct DctxDeleter {
    void operator()(LZ4F_dctx* c) const { LZ4F_freeDecompressionContext(c); }
};

}  // namespace

void lz4_compress_append(std::string_view in, std::string& out) {
    LZ4F_preferences_t prefs{};
    prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    prefs.frameInfo.contentSize = in.size();
    prefs.frameInfo.blockSizeID = LZ4F_max256KB;
    prefs.compressionLevel = 0;  // fast mode
    std::size_t bound = LZ4F_compressFrameBound(in.size(), &prefs);
    std::size_t at = out.size();
    out.resize(at + bound);
    std::size_t n = LZ4F_compressFrame(out.data() + at, bound, in.data(), in.size(), &prefs);
    if (LZ4F_isError(n)) {
        out.resize(at);
        throw std::runtime_error(std::string("LZ4 compression failed: ") + LZ4F_getErrorName(n));
    }
    out.resize(at + n);
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
        for (;;) {
            std::size_t at = out.size();
            out.resize(at + grow);
            std::size_t dst_size = grow;
            std::size_t src_size = left;
            r = LZ4F_decompress(ctx.get(), out.data() + at, &dst_size, src, &src_size, nullptr);
            out.resize(at + dst_size);
            if (LZ4F_isError(r)) {
                LZ4F_resetDecompressionContext(ctx.get());
                throw DecodeError(std::string("corrupt LZ4 data: ") + LZ4F_getErrorName(r));
            }
            src += src_size;
            left -= src_size;
            if (r == 0) break;  // frame complete
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
        std::size_t dst_size = out.size() - produced;
        std::size_t src_size = left;
        // After a frame ends (r == 0) the context starts the next frame by itself.
        std::size_t r = LZ4F_decompress(ctx_->dctx, out.data() + produced, &dst_size, src, &src_size, nullptr);
        if (LZ4F_isError(r)) {
            LZ4F_resetDecompressionContext(ctx_->dctx);
            throw DecodeError(std::string("corrupt LZ4 data: ") + LZ4F_getErrorName(r));
        }
        if (src_size == 0 && dst_size == 0) break;  // needs more input (r is then only a size hint)
        produced += dst_size;
        src += src_size;
        left -= src_size;
        in_frame_ = r != 0;  // 0: a frame ended and all of it was handed out
    }
    return {in.size() - left, produced};
}

void Lz4StreamDecompressor::finish() const {
    if (in_frame_) throw DecodeError("LZ4 frame is truncated");
}

}  // namespace ember::shuffle
