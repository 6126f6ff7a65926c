// SPDX-License-Identifier: Apache-2.0
#include "scheduler/task_set.hpp"

#include "storage/serializer.hpp"

namespace ember::scheduler {

std::string encode_partition_data(const std::vector<PartitionDatum>& data) {
    Encoder e;
    e.put_varint(data.size());
    for (const auto& d : data) {
        e.write(d.rdd_id);
        e.write(d.partition);
        e.put_bytes(d.bytes);
    }
    return e.take();
}

std::optional<std::string_view> find_partition_data(std::string_view data, int rdd_id, int partition) {
    Decoder d(data);
    for (std::uint64_t n = d.get_varint(); n > 0; --n) {
        const int rdd = d.read<int>();
        const int part = d.read<int>();
        const std::string_view bytes = d.get_bytes();
        if (rdd == rdd_id && part == partition) return bytes;
    }
    return std::nullopt;
}

}  // namespace ember::scheduler
