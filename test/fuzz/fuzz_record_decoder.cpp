// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: records as reducers and the driver decode them: storage/serializer.hpp's
// Decoder reading typed values (strings, pairs, tuples, vectors, maps, optionals, nested, an
// EMBER_SERDE struct), and a shuffle block read through ShuffleBlockStream + read_records, from
// memory or from a file, plain or as LZ4 frames (shuffle/compression.hpp).
//
// Input: byte 0 picks the record type (low 3 bits) and the block's form (bit 3: LZ4, bit 4: read
// from a file); the rest is the value's or the block's bytes.
#include "rpc/bytes.hpp"
#include "shuffle/compression.hpp"
#include "shuffle/map_status.hpp"
#include "shuffle/shuffle_block_stream.hpp"
#include "storage/managed_buffer.hpp"
#include "storage/serializer.hpp"
#include "test/fuzz/fuzz_support.hpp"

#include <array>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

using namespace ember;

namespace {

struct Point {
    std::int32_t x = 0;
    double y = 0;
    std::optional<std::string> label;
    std::vector<std::pair<std::string, std::int64_t>> tags;
    EMBER_SERDE(x, y, label, tags)
};

// The record types of the shuffles and results ember runs (word count, group_by_key, join,
// cogroup, sort_by_key, collect of user structs).
template <class T>
void read_all(std::span<const std::uint8_t> bytes, std::uint8_t form) {
    std::string_view view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    fuzz::rejecting([&] { (void)decode<T>(view); });
    fuzz::rejecting([&] {
        Decoder d(view);
        while (!d.done()) (void)d.read<T>();
    });

    // The same bytes as a shuffle block.
    storage::BlockData block;
    if (form & 0x10) {
        // A file block: read with pread in bounded pieces; its length may claim more than the
        // file holds (a truncated file), which must be a BlockReadError.
        int fd = ::memfd_create("fuzz-block", MFD_CLOEXEC);
        if (fd < 0)
            return;
        if (!bytes.empty() &&
            ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
            ::close(fd);
            return;
        }
        block.file = std::make_shared<rpc::FileHandle>(fd);
        block.offset = form & 0x20 ? 1 : 0;
        block.length = bytes.size() + (form & 0x40 ? 7 : 0);
        block.path = "memfd:fuzz-block";
    } else {
        block = storage::BlockData::of(storage::ManagedBuffer{nullptr, std::as_bytes(bytes)});
    }
    fuzz::rejecting([&] {
        shuffle::ShuffleBlockStream stream(std::move(block), (form & 0x08) != 0);
        std::size_t records = 0;
        shuffle::read_records(stream, [&](Decoder& d) {
            (void)d.read<T>();
            ++records;
        });
    });
    if (form & 0x08) {
        fuzz::rejecting([&] {
            std::string out;
            shuffle::lz4_decompress_append(std::as_bytes(bytes), out);
        });
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Selector sel(data, size);
    switch (sel.which & 7) {
        case 0:
            read_all<std::pair<std::string, std::uint64_t>>(sel.rest, sel.which);
            break;
        case 1:
            read_all<std::pair<std::string, std::vector<std::string>>>(sel.rest, sel.which);
            break;
        case 2:
            read_all<std::pair<std::int64_t,
                               std::pair<std::vector<double>, std::vector<std::optional<int>>>>>(
                sel.rest, sel.which);
            break;
        case 3:
            read_all<
                std::tuple<bool, std::int8_t, std::uint16_t, float, std::array<std::int32_t, 3>>>(
                sel.rest, sel.which);
            break;
        case 4:
            read_all<std::map<std::string, std::unordered_map<std::int64_t, std::string>>>(
                sel.rest, sel.which);
            break;
        case 5:
            read_all<std::vector<std::vector<std::pair<int, std::string>>>>(sel.rest, sel.which);
            break;
        case 6:
            read_all<Point>(sel.rest, sel.which);
            break;
        default:
            read_all<shuffle::MapStatus>(sel.rest, sel.which);
            break;
    }
    return 0;
}
