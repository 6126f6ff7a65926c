// SPDX-License-Identifier: Apache-2.0
// The on-disk layout of map outputs: one data and one index file per map task, the index holding
// R+1 big-endian int64 cumulative offsets from 0 to the data size, ADLER32 checksums, LZ4 frames.
#include "shuffle/compression.hpp"
#include "shuffle/index_shuffle_block_resolver.hpp"
#include "shuffle/map_output_writer.hpp"
#include "storage/disk_block_manager.hpp"

#include <catch2/catch.hpp>
#include <zlib.h>

#include <filesystem>
#include <fstream>

using namespace ember;
using namespace ember::shuffle;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::uint64_t> be64s(const std::string& bytes) {
    std::vector<std::uint64_t> out;
    for (std::size_t i = 0; i + 8 <= bytes.size(); i += 8) {
        std::uint64_t v = 0;
        for (int b = 0; b < 8; ++b) v = (v << 8) | static_cast<unsigned char>(bytes[i + static_cast<std::size_t>(b)]);
        out.push_back(v);
    }
    return out;
}

struct Fixture {
    std::filesystem::path root = std::filesystem::temp_directory_path() / "ember-layout-test";
    storage::DiskBlockManager disk{{(std::filesystem::remove_all(root), root.string())}};
    IndexShuffleBlockResolver resolver{disk};
    ~Fixture() { std::filesystem::remove_all(root); }

    // Partition p gets records "p:i" for i < counts[p].
    std::vector<std::uint64_t> write(int shuffle, std::int64_t map, const std::vector<int>& counts, bool spill_midway,
                                     ShuffleWriteOptions opts = {}) {
        MapOutputWriter w(resolver, disk, shuffle, map, static_cast<int>(counts.size()), opts);
        ShuffleWriteMetrics m;
        for (std::size_t p = 0; p < counts.size(); ++p) {
            for (int i = 0; i < counts[p]; ++i) {
                w.partition(static_cast<int>(p)).write(std::to_string(p) + ":" + std::to_string(i));
                if (spill_midway && i == counts[p] / 2) w.spill(m);
            }
        }
        return w.commit(m);
    }
    std::vector<std::string> records(int shuffle, std::int64_t map, int reduce, bool compressed = true) {
        auto seg = resolver.get_block_data({shuffle, map, reduce});
        std::string data = slurp(seg.path).substr(seg.offset, seg.length);
        std::string raw = data;
        if (compressed) {
            raw.clear();
            lz4_decompress_append(std::as_bytes(std::span(data.data(), data.size())), raw);
        }
        Decoder d(raw);
        std::vector<std::string> out;
        while (!d.done()) out.push_back(d.read<std::string>());
        return out;
    }
};

}  // namespace

TEST_CASE("A map output is one data file and one index of R+1 big-endian offsets", "[shuffle][layout]") {
    Fixture f;
    std::vector<int> counts{3, 0, 5, 1};
    auto lengths = f.write(0, 7, counts, false);
    REQUIRE(lengths.size() == 4);
    CHECK(lengths[1] == 0);  // an empty partition takes no bytes

    auto index_path = f.resolver.index_file(0, 7);
    auto data_path = f.resolver.data_file(0, 7);
    CHECK(std::filesystem::path(index_path).filename() == "shuffle_0_7_0.index");
    CHECK(std::filesystem::path(data_path).filename() == "shuffle_0_7_0.data");
    // Placed by Spark's hashing.
    CHECK(index_path == f.disk.get_file("shuffle_0_7_0.index"));

    auto index_bytes = slurp(index_path);
    REQUIRE(index_bytes.size() == 8 * (counts.size() + 1));
    auto offsets = be64s(index_bytes);
    CHECK(offsets.front() == 0);
    for (std::size_t i = 0; i < lengths.size(); ++i) CHECK(offsets[i + 1] - offsets[i] == lengths[i]);
    CHECK(offsets.back() == std::filesystem::file_size(data_path));

    for (int r = 0; r < 4; ++r) {
        auto recs = f.records(0, 7, r);
        REQUIRE(recs.size() == static_cast<std::size_t>(counts[static_cast<std::size_t>(r)]));
        for (std::size_t i = 0; i < recs.size(); ++i) CHECK(recs[i] == std::to_string(r) + ":" + std::to_string(i));
    }
}

TEST_CASE("The checksum file holds an ADLER32 of each segment's on-disk bytes", "[shuffle][layout]") {
    Fixture f;
    std::vector<int> counts{2, 4, 0};
    f.write(1, 3, counts, false);
    auto sums = be64s(slurp(f.resolver.checksum_file(1, 3)));
    REQUIRE(sums.size() == 3);
    CHECK(std::filesystem::path(f.resolver.checksum_file(1, 3)).filename() == "shuffle_1_3_0.checksum.ADLER32");
    std::string data = slurp(f.resolver.data_file(1, 3));
    auto offsets = be64s(slurp(f.resolver.index_file(1, 3)));
    for (std::size_t r = 0; r < 3; ++r) {
        auto seg = data.substr(offsets[r], offsets[r + 1] - offsets[r]);
        CHECK(sums[r] == adler32(1, reinterpret_cast<const Bytef*>(seg.data()), static_cast<uInt>(seg.size())));
    }
}

TEST_CASE("Spilled segments are concatenated per partition and read back whole", "[shuffle][layout]") {
    Fixture f;
    std::vector<int> counts{10, 7, 0, 3};
    f.write(2, 9, counts, true);
    for (int r = 0; r < 4; ++r) CHECK(f.records(2, 9, r).size() == static_cast<std::size_t>(counts[static_cast<std::size_t>(r)]));
    // No temp or spill file is left behind.
    int files = 0;
    for (auto& e : std::filesystem::recursive_directory_iterator(f.root)) files += e.is_regular_file();
    CHECK(files == 3);  // data, index, checksum
}

TEST_CASE("The first committed attempt of a map task wins", "[shuffle][layout]") {
    Fixture f;
    auto first = f.write(0, 1, {4, 4}, false);
    auto second = f.write(0, 1, {1, 9}, false);  // another attempt, different output
    CHECK(second == first);
    CHECK(f.records(0, 1, 0).size() == 4);
}

TEST_CASE("An existing output whose index offsets decrease is not kept", "[shuffle][layout]") {
    // Found by test/fuzz/fuzz_shuffle_index: offsets 0, size + 1, size passed the check (first 0,
    // last = the data file's size) and the second attempt reported a length of 2^64 - 1.
    Fixture f;
    auto first = f.write(0, 1, {4, 4}, false);
    std::uint64_t size = first[0] + first[1];
    std::string index;
    for (std::uint64_t v : {std::uint64_t{0}, size + 1, size}) {
        for (int b = 7; b >= 0; --b) index += static_cast<char>((v >> (8 * b)) & 0xff);
    }
    std::ofstream(f.resolver.index_file(0, 1), std::ios::binary | std::ios::trunc) << index;
    auto second = f.write(0, 1, {1, 9}, false);  // the corrupt output is replaced by this one
    CHECK(second[0] + second[1] == std::filesystem::file_size(f.resolver.data_file(0, 1)));
    CHECK(f.records(0, 1, 1).size() == 9);
}

TEST_CASE("Uncompressed output stores the raw records", "[shuffle][layout]") {
    Fixture f;
    f.write(5, 2, {3}, false, ShuffleWriteOptions{false, false});
    CHECK(f.records(5, 2, 0, false).size() == 3);
    CHECK_FALSE(std::filesystem::exists(f.resolver.checksum_file(5, 2)));
}

TEST_CASE("A missing index or a reduce id beyond it is an error naming the block", "[shuffle][layout]") {
    Fixture f;
    CHECK_THROWS_WITH(f.resolver.get_block_data({9, 9, 0}), Catch::Contains("shuffle_9_9_0"));
    f.write(0, 4, {1, 1}, false);
    CHECK_THROWS_WITH(f.resolver.get_block_data({0, 4, 5}), Catch::Contains("no entry for reduce partition 5"));
}

TEST_CASE("Corrupt LZ4 data is a DecodeError", "[shuffle][layout]") {
    std::string frame;
    lz4_compress_append(std::string(1000, 'a'), frame);
    std::string out;
    lz4_decompress_append(std::as_bytes(std::span(frame.data(), frame.size())), out);
    CHECK(out == std::string(1000, 'a'));
    for (std::size_t i = 4; i < frame.size(); i += 3) {
        std::string bad = frame;
        bad[i] ^= 0x5a;
        std::string o;
        CHECK_THROWS_AS(lz4_decompress_append(std::as_bytes(std::span(bad.data(), bad.size())), o), DecodeError);
    }
    std::string o;
    CHECK_THROWS_AS(lz4_decompress_append(std::as_bytes(std::span(frame.data(), frame.size() - 3)), o), DecodeError);
}

TEST_CASE("An LZ4 frame header's content size is not believed beyond what the input can expand to",
          "[shuffle][layout]") {
    // Found by test/fuzz/fuzz_record_decoder: a header claiming 0x723000000000000b bytes made
    // lz4_decompress_append resize its output to that size (std::length_error, or the
    // allocation itself) before decoding a byte.
    const unsigned char frame[] = {0x04, 0x22, 0x4d, 0x18, 0x6c, 0x40, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x30,
                                   0x72, 0x72, 0x6f, 0x72, 0x45, 0x00, 0x00, 0x00, 0x7c, 0x0b, 0x00, 0x00, 0x80,
                                   0x00, 0x00, 0x00, 0x00, 0x00, 0xd0, 0xbf, 0x02, 0x01, 0x06, 0x00, 0x00, 0x00,
                                   0x00, 0x00, 0xf2, 0x23, 0x2a, 0xfc};
    std::string out;
    CHECK_THROWS_AS(lz4_decompress_append(std::as_bytes(std::span(frame)), out), DecodeError);
    // A true content size still sizes the output at once.
    std::string good;
    lz4_compress_append(std::string(100000, 'z'), good);
    std::string back;
    lz4_decompress_append(std::as_bytes(std::span(good.data(), good.size())), back);
    CHECK(back == std::string(100000, 'z'));
}
