// SPDX-License-Identifier: Apache-2.0
#include "storage/block_id.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <vector>

namespace ember::storage {
namespace {

template <class... Fs>
struct Overload : Fs... {
    using Fs::operator()...;
};
template <class... Fs>
Overload(Fs...) -> Overload<Fs...>;

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= s.size(); ++i) {
        if (i == s.size() || s[i] == sep) {
            out.push_back(s.substr(start, i - start));
            start = i + 1;
        }
    }
    return out;
}

template <class T>
bool num(std::string_view s, T& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

}  // namespace

std::string name(const BlockId& id) {
    return std::visit(
        Overload{
            [](const RddBlockId& b) { return fmt::format("rdd_{}_{}", b.rdd_id, b.split_index); },
            [](const ShuffleBlockId& b) { return fmt::format("shuffle_{}_{}_{}", b.shuffle_id, b.map_id, b.reduce_id); },
            [](const ShuffleDataBlockId& b) { return fmt::format("shuffle_{}_{}_0.data", b.shuffle_id, b.map_id); },
            [](const ShuffleIndexBlockId& b) { return fmt::format("shuffle_{}_{}_0.index", b.shuffle_id, b.map_id); },
            [](const ShuffleChecksumBlockId& b) {
                return fmt::format("shuffle_{}_{}_0.checksum", b.shuffle_id, b.map_id);
            },
            [](const TaskResultBlockId& b) { return fmt::format("taskresult_{}", b.task_id); },
            [](const TempShuffleBlockId& b) { return "temp_shuffle_" + b.uuid; },
            [](const TempLocalBlockId& b) { return "temp_local_" + b.uuid; },
            [](const BroadcastBlockId& b) {
                return b.field.empty() ? fmt::format("broadcast_{}", b.broadcast_id)
                                       : fmt::format("broadcast_{}_{}", b.broadcast_id, b.field);
            },
        },
        id);
}

std::optional<BlockId> parse_block_id(std::string_view s) {
    // A temp block's id is the name of a file in the local dirs: one with a '/' (a path into
    // other directories) or a NUL is not a block id, whoever sent it.
    auto file_name = [](std::string_view u) {
        return u.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
    };
    if (s.starts_with("temp_shuffle_")) {
        if (!file_name(s.substr(13))) return std::nullopt;
        return TempShuffleBlockId{std::string(s.substr(13))};
    }
    if (s.starts_with("temp_local_")) {
        if (!file_name(s.substr(11))) return std::nullopt;
        return TempLocalBlockId{std::string(s.substr(11))};
    }
    std::string_view suffix;
    if (auto dot = s.find('.'); dot != std::string_view::npos) {
        suffix = s.substr(dot + 1);
        s = s.substr(0, dot);
    }
    auto parts = split(s, '_');
    if (parts[0] == "rdd" && parts.size() == 3 && suffix.empty()) {
        RddBlockId b{};
        if (num(parts[1], b.rdd_id) && num(parts[2], b.split_index)) return b;
    } else if (parts[0] == "shuffle" && parts.size() == 4) {
        int sid = 0, rid = 0;
        std::int64_t mid = 0;
        if (!num(parts[1], sid) || !num(parts[2], mid) || !num(parts[3], rid)) return std::nullopt;
        if (suffix.empty()) return ShuffleBlockId{sid, mid, rid};
        if (rid != 0) return std::nullopt;
        if (suffix == "data") return ShuffleDataBlockId{sid, mid};
        if (suffix == "index") return ShuffleIndexBlockId{sid, mid};
        if (suffix == "checksum") return ShuffleChecksumBlockId{sid, mid};
    } else if (parts[0] == "broadcast" && (parts.size() == 2 || parts.size() == 3) && suffix.empty()) {
        // The field names a file in the local dirs: letters and digits only.
        BroadcastBlockId b{};
        if (!num(parts[1], b.broadcast_id) || b.broadcast_id < 0) return std::nullopt;
        if (parts.size() == 3) {
            if (parts[2].empty()) return std::nullopt;
            for (char c : parts[2]) {
                if (!std::isalnum(static_cast<unsigned char>(c))) return std::nullopt;
            }
            b.field = std::string(parts[2]);
        }
        return b;
    } else if (parts[0] == "taskresult" && parts.size() == 2 && suffix.empty()) {
        TaskResultBlockId b{};
        if (num(parts[1], b.task_id)) return b;
    }
    return std::nullopt;
}

}  // namespace ember::storage
