// SPDX-License-Identifier: Apache-2.0
#include "scheduler/registry.hpp"
#include "scheduler/rdd/rdd_base.hpp"

#include <set>

namespace ember::scheduler {
namespace {

// Nodes reachable through narrow dependencies, parents before children. A checkpointed node
// ends the walk: its ReliableCheckpointRDD travels in its place (see encode_lineage).
void topo(const RddBase& rdd, std::set<int>& seen, std::vector<const RddBase*>& out) {
    if (!seen.insert(rdd.id()).second) return;
    if (!rdd.is_checkpointed()) {
        for (auto& dep : rdd.narrow_dependencies()) topo(*dep.rdd, seen, out);
    }
    out.push_back(&rdd);
}

void encode_lineage(Encoder& e, const RddBase& last) {
    std::set<int> seen;
    std::vector<const RddBase*> nodes;
    topo(last, seen, nodes);
    e.put_varint(nodes.size());
    for (const RddBase* n : nodes) {
        // A checkpointed node is rebuilt as the reader of its files, under its own id, so its
        // children and its cached blocks (rdd_<id>_<p>) are unchanged.
        const RddBase* code = n->checkpoint_rdd() ? n->checkpoint_rdd() : n;
        e.write(n->id());
        e.write(n->num_partitions());
        e.put_bytes(code->type_key());
        std::vector<int> parents;
        if (code == n) {
            for (auto& dep : n->narrow_dependencies()) parents.push_back(dep.rdd->id());
        }
        e.write(parents);
        Encoder params;
        code->encode_params(params);
        e.put_bytes(params.bytes());
        auto level = n->storage_level();
        e.put_u8(level.to_int());
        e.put_u8(static_cast<std::uint8_t>(level.replication));
    }
}

}  // namespace

std::shared_ptr<RddBase> LineageDecoder::get(int rdd_id) const {
    for (auto& [id, node] : nodes_) {
        if (id == rdd_id) return node;
    }
    throw DecodeError("RDD " + std::to_string(rdd_id) + " is not in the stage lineage");
}

std::string StageCodec::encode_shuffle_map_stage(const ShuffleDependencyBase& dep) {
    Encoder e;
    e.put_u8(0);
    encode_lineage(e, *dep.rdd());
    e.put_bytes(dep.type_key());
    e.write(dep.shuffle_id());
    e.write(dep.num_reduce_partitions());
    e.write(dep.rdd()->id());
    Encoder params;
    dep.encode_params(params);
    e.put_bytes(params.bytes());
    return e.take();
}

std::string StageCodec::encode_result_stage(const RddBase& rdd, const ResultFunctionBase& fn) {
    Encoder e;
    e.put_u8(1);
    encode_lineage(e, rdd);
    e.write(rdd.id());
    e.put_bytes(fn.type_key());
    Encoder params;
    fn.encode_params(params);
    e.put_bytes(params.bytes());
    return e.take();
}

DecodedStage StageCodec::decode(std::string_view bytes) {
    Decoder d(bytes);
    std::uint8_t kind = d.get_u8();
    LineageDecoder ctx;
    std::uint64_t n = d.get_varint();
    for (std::uint64_t i = 0; i < n; ++i) {
        int id = d.read<int>();
        int parts = d.read<int>();
        std::string key(d.get_bytes());
        ctx.parents_ = d.read<std::vector<int>>();
        std::string_view params = d.get_bytes();
        auto factory = reinterpret_cast<detail::RddFactory>(const_cast<void*>(detail::find_factory(0, key)));
        Decoder pd(params);
        auto node = factory(ctx, pd, id, parts);
        std::uint8_t flags = d.get_u8();
        node->set_storage_level(storage::StorageLevel::from_int(flags, d.get_u8()));
        ctx.nodes_.emplace_back(id, std::move(node));
    }
    DecodedStage out;
    if (kind == 0) {
        std::string key(d.get_bytes());
        (void)d.read<int>();  // shuffle id and partitions are also in the params
        (void)d.read<int>();
        int parent = d.read<int>();
        std::string_view params = d.get_bytes();
        ctx.parents_ = {parent};
        auto factory = reinterpret_cast<detail::ShuffleDepFactory>(const_cast<void*>(detail::find_factory(1, key)));
        Decoder pd(params);
        out.shuffle = factory(ctx, pd);
        out.rdd = out.shuffle->rdd();
    } else {
        out.rdd = ctx.get(d.read<int>());
        std::string key(d.get_bytes());
        std::string_view params = d.get_bytes();
        auto factory = reinterpret_cast<detail::ResultFnFactory>(const_cast<void*>(detail::find_factory(2, key)));
        Decoder pd(params);
        out.func = factory(pd);
    }
    return out;
}

}  // namespace ember::scheduler
