// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: a LaunchTask's stage binary (the RDD lineage, shuffle dependency and task
// function, scheduler/rdd/stage_codec.cpp) decoded as the executor decodes it before a stage's
// first task. The RDD, dependency and closure types of the seed jobs are registered
// (fuzz_support.cpp: seed_stage_binaries), so mutations of the seeds decode into real nodes: a
// decode that reads garbage must throw, never crash.
//
// Input: the binary (StageBinary.binary).
#include "scheduler/rdd/rdd_base.hpp"
#include "test/fuzz/fuzz_support.hpp"

using namespace ember;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    fuzz::rejecting([&] {
        scheduler::DecodedStage stage = scheduler::StageCodec::decode(bytes);
        // What the executor asks of a decoded stage before it runs a task.
        if (stage.rdd) {
            (void)stage.rdd->num_partitions();
            (void)stage.rdd->kind();
            (void)stage.rdd->storage_level();
            for (auto& dep : stage.rdd->narrow_dependencies()) (void)dep.rdd->id();
        }
        if (stage.shuffle) {
            (void)stage.shuffle->shuffle_id();
            (void)stage.shuffle->num_reduce_partitions();
        }
    });
    return 0;
}
