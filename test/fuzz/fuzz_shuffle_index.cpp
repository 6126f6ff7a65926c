// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: shuffle index files (R+1 big-endian int64 offsets) as the
// IndexShuffleBlockResolver reads them when it serves a block (get_block_data), when a second
// attempt of a map task commits (write_index_file_and_commit checks the existing output), and
// read_index; each segment it returns is then read from the data file as a reducer would.
// A corrupt or short index, or offsets past the data file, must be an error naming the block.
// (The checksum files beside them are written but read by nothing yet: no target for them.)
//
// Input: byte 0 sets the data file's size (x 16 bytes); the rest is the index file.
#include "shuffle/index_shuffle_block_resolver.hpp"
#include "shuffle/shuffle_block_stream.hpp"
#include "storage/disk_block_manager.hpp"
#include "test/fuzz/fuzz_support.hpp"

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

using namespace ember;
namespace fs = std::filesystem;

namespace {

struct Dirs {
    fs::path root;
    std::unique_ptr<storage::DiskBlockManager> disk;
    std::unique_ptr<shuffle::IndexShuffleBlockResolver> resolver;

    Dirs() {
        // tmpfs when there is one: every run writes two files.
        std::string base =
            fs::is_directory("/dev/shm") ? "/dev/shm" : fs::temp_directory_path().string();
        std::string tmpl = base + "/ember-fuzz-index.XXXXXX";
        if (!::mkdtemp(tmpl.data()))
            std::abort();
        root = tmpl;
        disk = std::make_unique<storage::DiskBlockManager>(std::vector<std::string>{root.string()},
                                                           4, true);
        resolver = std::make_unique<shuffle::IndexShuffleBlockResolver>(*disk);
    }
    ~Dirs() {
        resolver.reset();
        disk.reset();
        std::error_code ec;
        fs::remove_all(root, ec);
    }
};

void write_file(const std::string& path, const char* data, std::size_t n) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(data, static_cast<std::streamsize>(n));
}

// A reducer reading the segment the resolver handed out.
void read_segment(const storage::FileSegment& seg) {
    shuffle::ShuffleBlockStream stream(storage::BlockData::open(seg), false);
    shuffle::ByteBuffer buf;
    while (stream.read_into(buf, 4096)) buf.clear();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Dirs dirs;
    fuzz::Selector sel(data, size);
    auto& resolver = *dirs.resolver;
    const int shuffle_id = 0;
    const std::int64_t map_id = 7;
    std::string index = resolver.index_file(shuffle_id, map_id);
    std::string data_file = resolver.data_file(shuffle_id, map_id);
    write_file(index, reinterpret_cast<const char*>(sel.rest.data()), sel.rest.size());
    std::string bytes(std::size_t{sel.which} * 16, 'x');
    write_file(data_file, bytes.data(), bytes.size());

    std::size_t entries = sel.rest.size() / 8;
    std::vector<int> reduce_ids = {-1, INT_MAX, INT_MAX / 8, static_cast<int>(entries),
                                   static_cast<int>(entries) - 1};
    for (int r = 0; r < static_cast<int>(std::min<std::size_t>(entries, 64)); ++r)
        reduce_ids.push_back(r);
    for (int r : reduce_ids) {
        fuzz::rejecting([&] {
            auto seg = resolver.get_block_data(storage::ShuffleBlockId{shuffle_id, map_id, r});
            if (seg.length <= (1u << 20))
                read_segment(seg);
        });
    }
    (void)shuffle::IndexShuffleBlockResolver::read_index(index);

    // A second attempt of the same map task commits: the index above is the existing output,
    // kept if it is valid for that many partitions and the data file's size.
    std::size_t partitions = entries > 0 ? entries - 1 : 0;
    if (partitions <= 4096) {
        fuzz::rejecting([&] {
            // The new attempt's data: the same bytes, all in its last partition.
            std::vector<std::uint64_t> lengths(partitions, 0);
            std::string tmp_data;
            if (!lengths.empty()) {
                lengths.back() = bytes.size();
                tmp_data = (dirs.root / "attempt.data").string();
                write_file(tmp_data, bytes.data(), bytes.size());
            } else {
                bytes.clear();  // no partitions: an empty data file
            }
            auto committed =
                resolver.write_index_file_and_commit(shuffle_id, map_id, lengths, {}, tmp_data);
            // Whatever is committed describes the data file exactly: segments inside it that
            // add up to its size (the map status reports these lengths to the reducers).
            std::uint64_t total = 0, file = fs::file_size(data_file);
            for (auto l : committed) {
                if (l > file)
                    std::abort();
                total += l;
            }
            if (total != file)
                std::abort();
        });
    }
    resolver.remove_data_by_map(shuffle_id, map_id);
    return 0;
}
