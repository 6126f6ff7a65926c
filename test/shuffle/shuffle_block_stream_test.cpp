// SPDX-License-Identifier: Apache-2.0
// Reading shuffle blocks a piece at a time: LZ4 frames decompressed from input cut anywhere,
// records decoded across pieces, blocks from memory and from files, and the errors of corrupt,
// truncated and unreadable blocks.
#include "rpc/log.hpp"
#include "shuffle/compression.hpp"
#include "shuffle/map_output_writer.hpp"
#include "shuffle/shuffle_block_stream.hpp"
#include "storage/disk_block_manager.hpp"
#include "test/support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <lz4frame.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

using namespace ember;
using namespace ember::shuffle;

namespace {

std::span<const std::byte> bytes_of(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

/// Records (string key of varying length, vector of numbers): some much larger than a piece.
std::vector<std::pair<std::string, std::vector<std::int64_t>>> sample_records(int n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<std::pair<std::string, std::vector<std::int64_t>>> out;
    for (int i = 0; i < n; ++i) {
        std::size_t len = i % 97 == 0 ? 700'000 : rng() % 40;
        std::string k(len, static_cast<char>('a' + i % 26));
        std::vector<std::int64_t> v(rng() % 5);
        for (auto& x : v) x = static_cast<std::int64_t>(rng()) - (1 << 30);
        out.emplace_back(std::move(k), std::move(v));
    }
    return out;
}

std::string encode_records(const std::vector<std::pair<std::string, std::vector<std::int64_t>>>& recs) {
    Encoder e;
    for (auto& [k, v] : recs) {
        e.write(k);
        e.write(v);
    }
    return e.take();
}

/// The records of a block read through ShuffleBlockStream.
std::vector<std::pair<std::string, std::vector<std::int64_t>>> read_back(storage::BlockData data, bool compressed) {
    ShuffleBlockStream stream(std::move(data), compressed);
    std::vector<std::pair<std::string, std::vector<std::int64_t>>> out;
    read_records(stream, [&](Decoder& d) {
        auto k = d.read<std::string>();
        auto v = d.read<std::vector<std::int64_t>>();
        out.emplace_back(std::move(k), std::move(v));
    });
    return out;
}

/// Decompresses from `in` into at most `max` more bytes of `out`; returns the input consumed.
std::size_t decompress_append(Lz4StreamDecompressor& lz4, std::span<const std::byte> in, std::string& out,
                              std::size_t max) {
    static std::string scratch;
    if (scratch.size() < max) scratch.resize(max);
    auto p = lz4.decompress(in, std::span<char>(scratch.data(), max));
    out.append(scratch.data(), p.produced);
    return p.consumed;
}

/// `raw` as LZ4 frames of `frame_bytes` each, cut at arbitrary byte positions (not record
/// boundaries), as spills cut them.
std::string lz4_frames(const std::string& raw, std::size_t frame_bytes) {
    std::string compressed;
    for (std::size_t at = 0; at < raw.size(); at += frame_bytes) {
        lz4_compress_append(std::string_view(raw).substr(at, frame_bytes), compressed);
    }
    return compressed;
}

storage::BlockData memory_block(const std::string& bytes) {
    auto owner = std::make_shared<std::string>(bytes);
    return storage::BlockData::of(storage::ManagedBuffer{owner, bytes_of(*owner)});
}

}  // namespace

TEST_CASE("ByteBuffer grows, appends and drops its front as a std::string would", "[shuffle][stream]") {
    std::mt19937 rng(7);
    ByteBuffer buf;
    std::string oracle;
    CHECK(buf.empty());
    for (int step = 0; step < 2000; ++step) {
        switch (rng() % 4) {
            case 0: {  // append
                std::string piece(rng() % 3000, '\0');
                for (auto& c : piece) c = static_cast<char>(rng());
                buf.append(piece.data(), piece.size());
                oracle += piece;
                break;
            }
            case 1: {  // grow, then write the new bytes (as read_into decompresses into them)
                std::size_t at = buf.size(), n = rng() % 5000;
                buf.resize(at + n);
                for (std::size_t i = 0; i < n; ++i) buf.data()[at + i] = static_cast<char>(i * 31 + step);
                for (std::size_t i = 0; i < n; ++i) oracle.push_back(static_cast<char>(i * 31 + step));
                break;
            }
            case 2: {  // shrink: keeps the first bytes
                std::size_t n = oracle.empty() ? 0 : rng() % (oracle.size() + 1);
                buf.resize(n);
                oracle.resize(n);
                break;
            }
            default: {  // drop a consumed front
                std::size_t n = oracle.empty() ? 0 : rng() % (oracle.size() + 1);
                buf.erase_front(n);
                oracle.erase(0, n);
            }
        }
        REQUIRE(buf.size() == oracle.size());
        REQUIRE(buf.empty() == oracle.empty());
        REQUIRE(std::string(buf.data(), buf.size()) == oracle);
    }
    buf.clear();
    CHECK(buf.empty());
    buf.append("abc", 3);
    CHECK(std::string(buf.data(), buf.size()) == "abc");
}

TEST_CASE("LZ4 frames fed in pieces of any size decompress to the same bytes", "[shuffle][compression]") {
    std::string raw;
    for (std::int64_t i = 0; i < 60'000; ++i) raw += std::to_string(i * 7919 % 10007) + ",";
    // Three frames back to back, as a segment written in three seals.
    std::string frames;
    std::size_t third = raw.size() / 3;
    lz4_compress_append(std::string_view(raw).substr(0, third), frames);
    lz4_compress_append(std::string_view(raw).substr(third, third), frames);
    lz4_compress_append(std::string_view(raw).substr(2 * third), frames);
    const std::vector<std::pair<std::size_t, std::size_t>> pieces{
        {1, 1u << 20}, {7, 1000}, {4096, 1}, {frames.size(), 1}, {frames.size(), 1u << 20}};
    for (auto [in_piece, out_piece] : pieces) {
        {
            CAPTURE(in_piece, out_piece);
            Lz4StreamDecompressor lz4;
            std::string out;
            auto in = bytes_of(frames);
            std::size_t pos = 0;
            while (pos < in.size()) {
                auto piece = in.subspan(pos, std::min(in_piece, in.size() - pos));
                std::size_t used = 0;
                while (used < piece.size()) used += decompress_append(lz4, piece.subspan(used), out, out_piece);
                pos += piece.size();
            }
            // Output still buffered in the context comes out with empty input.
            for (;;) {
                std::size_t before = out.size();
                decompress_append(lz4, {}, out, out_piece);
                if (out.size() == before) break;
            }
            lz4.finish();
            REQUIRE(out.size() == raw.size());
            CHECK(out == raw);
        }
    }
}

TEST_CASE("lz4_compress_append writes the frame LZ4F writes with a content checksum, and a wrong checksum "
          "is an error in both decompressors",
          "[shuffle][compression]") {
    // lz4_compress_append adds the content checksum itself (libxxhash's XXH32 is faster than
    // liblz4's), and the decompressors check it themselves: the frames must stay the standard
    // ones, readable with LZ4F's own checks, and a checksum that disagrees must still fail.
    std::mt19937 rng(3);
    std::string scratch(100, '#');  // lz4_compress_into's reused buffer: grows, then holds old bytes
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{1'300'000}, std::size_t{100'000}}) {
        CAPTURE(size);
        std::string raw(size, '\0');
        for (std::size_t i = 0; i < size; ++i) raw[i] = static_cast<char>('a' + rng() % (i % 3 == 0 ? 26 : 3));
        std::string ours = "prefix";
        lz4_compress_append(raw, ours);
        CHECK(ours.substr(0, 6) == "prefix");
        ours.erase(0, 6);
        std::size_t into = lz4_compress_into(raw, scratch);
        CHECK(scratch.substr(0, into) == ours);
        std::string to(lz4_frame_bound(size), '#');  // lz4_compress_to: any caller's buffer
        CHECK(to.substr(0, lz4_compress_to(raw, to.data(), to.size())) == ours);
        CHECK_THROWS_AS(lz4_compress_to(raw, to.data(), to.size() - 1), ember::ContractViolation);

        LZ4F_preferences_t prefs{};
        prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
        prefs.frameInfo.contentSize = size;
        prefs.frameInfo.blockSizeID = LZ4F_max256KB;
        std::string theirs(LZ4F_compressFrameBound(size, &prefs), '\0');
        std::size_t n = LZ4F_compressFrame(theirs.data(), theirs.size(), raw.data(), raw.size(), &prefs);
        REQUIRE_FALSE(LZ4F_isError(n));
        theirs.resize(n);
        CHECK(ours == theirs);

        // Both decompressors, the stream fed whole and a byte at a time (the checksum then
        // arrives in four calls), read it back; with the checksum's last byte changed, or a
        // content byte, both throw.
        for (int corrupt = 0; corrupt < 3; ++corrupt) {
            CAPTURE(corrupt);
            std::string frame = ours;
            if (corrupt == 1) frame.back() ^= 0x01;
            if (corrupt == 2 && size > 0) frame[frame.size() / 2 + 8] ^= 0x20;
            bool bad = corrupt == 1 || (corrupt == 2 && size > 0);
            std::string whole;
            if (bad) {
                CHECK_THROWS_AS(lz4_decompress_append(bytes_of(frame), whole), DecodeError);
            } else {
                lz4_decompress_append(bytes_of(frame), whole);
                CHECK(whole == raw);
            }
            for (std::size_t piece : {frame.size(), std::size_t{1}}) {
                CAPTURE(piece);
                Lz4StreamDecompressor lz4;
                std::string out;
                auto in = bytes_of(frame);
                auto run = [&] {
                    for (std::size_t pos = 0; pos < in.size(); pos += piece) {
                        auto part = in.subspan(pos, std::min(piece, in.size() - pos));
                        std::size_t used = 0;
                        while (used < part.size()) used += decompress_append(lz4, part.subspan(used), out, 1 << 16);
                    }
                    for (std::size_t before = SIZE_MAX; out.size() != before;) {  // what the context still holds
                        before = out.size();
                        decompress_append(lz4, {}, out, 1 << 16);
                    }
                    lz4.finish();
                };
                if (bad) {
                    CHECK_THROWS_AS(run(), DecodeError);
                } else {
                    run();
                    CHECK(out == raw);
                }
            }
        }
    }
    // A frame without a content checksum (another writer's) reads back too.
    std::string raw(50'000, 'q');
    LZ4F_preferences_t prefs{};
    std::string plain(LZ4F_compressFrameBound(raw.size(), &prefs), '\0');
    plain.resize(LZ4F_compressFrame(plain.data(), plain.size(), raw.data(), raw.size(), &prefs));
    std::string whole;
    lz4_decompress_append(bytes_of(plain), whole);
    CHECK(whole == raw);
    Lz4StreamDecompressor lz4;
    std::string out;
    std::size_t used = 0;
    while (used < plain.size()) used += decompress_append(lz4, bytes_of(plain).subspan(used), out, 1 << 16);
    lz4.finish();
    CHECK(out == raw);
}

TEST_CASE("A truncated or corrupt LZ4 stream is an error naming the problem", "[shuffle][compression]") {
    std::string raw(100'000, 'x');
    for (std::size_t i = 0; i < raw.size(); i += 13) raw[i] = static_cast<char>('a' + i % 26);
    std::string frame;
    lz4_compress_append(raw, frame);
    {
        Lz4StreamDecompressor lz4;
        std::string out;
        decompress_append(lz4, bytes_of(frame).first(frame.size() / 2), out, 1 << 20);
        CHECK_THROWS_WITH(lz4.finish(), Catch::Contains("truncated"));
    }
    {
        std::string bad = frame;
        bad[bad.size() / 2] ^= 0x5a;
        ShuffleBlockStream stream(memory_block(bad), true);
        ByteBuffer out;
        CHECK_THROWS_AS([&] { while (stream.read_into(out, 4096)) {} }(), DecodeError);
    }
}

TEST_CASE("Records cut by the ends of pieces are decoded whole, from memory and from files",
          "[shuffle][stream]") {
    auto recs = sample_records(2000, 42);
    std::string raw = encode_records(recs);
    std::string compressed = lz4_frames(raw, 333'333);
    CHECK(read_back(memory_block(raw), false) == recs);
    CHECK(read_back(memory_block(compressed), true) == recs);

    auto dir = ember::test::fresh_temp_dir("block-stream");
    std::string path = dir + "/segment";
    {
        std::ofstream f(path, std::ios::binary);
        f << "HEAD" << compressed << "TAIL";  // the block is a segment in the middle of a file
    }
    auto data = storage::BlockData::open({path, 4, compressed.size()});
    CHECK(read_back(data, true) == recs);
    std::filesystem::remove_all(dir);
}

TEST_CASE("Key views held across records stay valid until piece_end, which follows each piece's last record",
          "[shuffle][stream]") {
    // Record keys are held as views (as the reduce side's batched lookups hold them) and copied
    // out only at piece_end: a view that outlived its piece would read moved bytes.
    auto recs = sample_records(3000, 11);
    std::string raw = encode_records(recs);
    std::string compressed = lz4_frames(raw, 100'003);
    for (bool lz4 : {false, true}) {
        ShuffleBlockStream stream(memory_block(lz4 ? compressed : raw), lz4);
        std::vector<std::string_view> held;
        std::vector<std::string> keys;
        int pieces = 0;
        read_records(
            stream,
            [&](Decoder& d) {
                std::string_view k = d.get_bytes();
                d.read<std::vector<std::int64_t>>();
                held.push_back(k);
            },
            [&] {
                ++pieces;
                keys.insert(keys.end(), held.begin(), held.end());
                held.clear();
            });
        CHECK(held.empty());
        CAPTURE(lz4);
        // Far more bytes than one piece: the hook ran between pieces, not only at the end.
        CHECK(pieces >= static_cast<int>(raw.size() / kShuffleReadChunk));
        REQUIRE(keys.size() == recs.size());
        for (std::size_t i = 0; i < recs.size(); ++i) CHECK(keys[i] == recs[i].first);
    }
}

TEST_CASE("A block that ends inside a record, or whose file is short, is an error", "[shuffle][stream]") {
    auto recs = sample_records(50, 7);
    std::string raw = encode_records(recs);
    CHECK_THROWS_WITH(read_back(memory_block(raw.substr(0, raw.size() - 3)), false),
                      Catch::Contains("ends inside a record"));

    auto dir = ember::test::fresh_temp_dir("block-stream");
    std::string path = dir + "/short";
    {
        std::ofstream f(path, std::ios::binary);
        f << raw;
    }
    // The index promises more bytes than the file has.
    auto data = storage::BlockData::open({path, 0, raw.size() + 100});
    CHECK_THROWS_AS(read_back(data, false), BlockReadError);
    CHECK_THROWS_WITH(storage::BlockData::open({dir + "/missing", 0, 1}), Catch::Contains("missing"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("Map outputs sealed in small chunks read back as the records written", "[shuffle][stream]") {
    auto dir = ember::test::fresh_temp_dir("block-stream");
    storage::DiskBlockManager disk({dir});
    IndexShuffleBlockResolver resolver(disk);
    for (bool compress : {true, false}) {
        CAPTURE(compress);
        ShuffleWriteOptions opts;
        opts.compress = compress;
        opts.chunk_bytes = 4096;
        std::int64_t map_id = compress ? 1 : 2;
        MapOutputWriter w(resolver, disk, 0, map_id, 3, opts);
        ShuffleWriteMetrics m;
        std::vector<std::vector<std::string>> expected(3);
        std::size_t since_spill = 0;
        for (int i = 0; i < 30'000; ++i) {
            int p = i % 3;
            std::string rec = std::to_string(i) + std::string(static_cast<std::size_t>(i % 50), 'z');
            w.partition(p).write(rec);
            expected[static_cast<std::size_t>(p)].push_back(rec);
            since_spill += rec.size() + 1;
            if (i == 12'345) {
                w.spill(m);
                CHECK(w.buffered_bytes() <= 3 * 2 * 4096);  // only the open chunks' capacity is left
                since_spill = 0;
            }
        }
        // Sealed frames (compressed: much less than written) plus three open chunks.
        CHECK(w.buffered_bytes() <= (compress ? since_spill / 2 : since_spill) + 3 * 2 * 4096);
        w.commit(m);
        for (int p = 0; p < 3; ++p) {
            auto seg = resolver.get_block_data({0, map_id, p});
            ShuffleBlockStream stream(storage::BlockData::open(seg), compress);
            std::vector<std::string> got;
            read_records(stream, [&](Decoder& d) { got.push_back(d.read<std::string>()); });
            CHECK(got == expected[static_cast<std::size_t>(p)]);
        }
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("A partition's open buffer takes room for a whole chunk once it outgrows 16 KiB, and seals at the chunk",
          "[shuffle][stream]") {
    // Growing by doubling to a 1 MiB chunk would copy the buffer (and fault its new pages) at
    // every step; past 16 KiB the buffer gets room for the chunk at once. Small partitions stay
    // small.
    auto dir = ember::test::fresh_temp_dir("block-stream");
    storage::DiskBlockManager disk({dir});
    IndexShuffleBlockResolver resolver(disk);
    ShuffleWriteOptions opts;
    opts.chunk_bytes = 64u << 10;
    MapOutputWriter w(resolver, disk, 0, 7, 2, opts);
    std::string rec(1000, 'r');
    std::vector<std::string> expected;
    for (int i = 0; i < 10; ++i) {
        w.partition(0).write(rec);
        expected.push_back(rec);
    }
    w.partition(1).write(std::string("tiny"));
    CHECK(w.buffered_bytes() < 32u << 10);  // 10 KB written: no chunk reserved yet
    for (int i = 0; i < 10; ++i) {
        w.partition(0).write(rec);
        expected.push_back(rec);
    }
    std::size_t reserved = w.buffered_bytes();
    CHECK(reserved >= 64u << 10);  // 20 KB written: room for the chunk
    CHECK(reserved < (64u << 10) + (16u << 10));
    for (int i = 0; i < 200; ++i) {  // three seals and a bit
        w.partition(0).write(std::to_string(i) + rec);
        expected.push_back(std::to_string(i) + rec);
    }
    ShuffleWriteMetrics m;
    w.commit(m);
    auto seg = resolver.get_block_data({0, 7, 0});
    ShuffleBlockStream stream(storage::BlockData::open(seg), true);
    std::vector<std::string> got;
    read_records(stream, [&](Decoder& d) { got.push_back(d.read<std::string>()); });
    CHECK(got == expected);
    std::filesystem::remove_all(dir);
}
