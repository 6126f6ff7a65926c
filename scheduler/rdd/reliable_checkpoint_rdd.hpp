// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Reliable checkpointing (Spark's ReliableCheckpointRDD and ReliableRDDCheckpointData): the
/// task function writing a partition to `<dir>/part-%05d`, and the RDD reading the files back.

#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/registry.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include <fcntl.h>
#include <unistd.h>

namespace ember::scheduler {

/// The name of partition p's checkpoint file (Spark's ReliableCheckpointRDD.checkpointFileName).
inline std::string checkpoint_file_name(int p) { return fmt::format("part-{:05d}", p); }

/// Writes partition p's records, in their Serde encoding back to back, to a temporary file in
/// `dir` and renames it to part-%05d when whole, so a failed or duplicate attempt never leaves a
/// partial file (Spark's writePartitionToCheckpointFile). Returns nothing to the driver.
template <class T>
class WriteCheckpointFn final : public ResultFunctionBase {
public:
    explicit WriteCheckpointFn(std::string dir) : dir_(std::move(dir)) {}

    std::string run(RddBase& rdd, int p, TaskContext& tc) override {
        namespace fs = std::filesystem;
        auto* node = dynamic_cast<RddNode<T>*>(&rdd);
        if (!node) throw std::runtime_error("checkpoint writer applied to an RDD of another record type");
        std::error_code ec;
        fs::create_directories(dir_, ec);
        if (ec) throw std::runtime_error(fmt::format("Cannot create checkpoint directory {}: {}", dir_, ec.message()));
        fs::path final_path = fs::path(dir_) / checkpoint_file_name(p);
        fs::path tmp = fs::path(dir_) / fmt::format(".{}-attempt-{}", checkpoint_file_name(p), tc.task_attempt_id());
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) throw std::runtime_error(fmt::format("Cannot create {}: {}", tmp.string(), std::strerror(errno)));
        Encoder e;
        auto flush = [&] {
            std::string_view s = e.bytes();
            while (!s.empty()) {
                ssize_t n = ::write(fd, s.data(), s.size());
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) {
                    int err = errno;
                    ::close(fd);
                    throw std::runtime_error(fmt::format("Cannot write {}: {}", tmp.string(), std::strerror(err)));
                }
                s.remove_prefix(static_cast<std::size_t>(n));
            }
            e.clear();
        };
        node->iterator(p, tc, [&](T&& v) {
            e.write(v);
            if (e.size() >= (1 << 20)) flush();
        });
        flush();
        if (::close(fd) != 0) throw std::runtime_error(fmt::format("Cannot close {}: {}", tmp.string(), std::strerror(errno)));
        fs::rename(tmp, final_path, ec);
        if (ec) throw std::runtime_error(fmt::format("Cannot commit {}: {}", final_path.string(), ec.message()));
        return {};
    }
    const char* type_key() const override { return result_fn_type_key<WriteCheckpointFn>(); }
    void encode_params(Encoder& e) const override { e.write(dir_); }
    static std::shared_ptr<ResultFunctionBase> decode(Decoder& d) {
        return std::make_shared<WriteCheckpointFn>(d.read<std::string>());
    }

private:
    std::string dir_;
};

/// Partition p is the records of `<dir>/part-%05d`, as WriteCheckpointFn wrote them. It has no
/// dependencies: a checkpointed RDD's lineage ends here. The files must be readable from every
/// executor (a shared or, for local masters, the local disk). A task reads its whole file into
/// memory before decoding it. A missing or corrupt file fails the task naming it.
/// Threading: immutable after construction; compute() runs concurrently for different partitions.
template <class T>
class ReliableCheckpointRdd final : public RddNode<T> {
public:
    ReliableCheckpointRdd(int id, int num_partitions, std::string dir)
        : RddNode<T>(id, num_partitions), dir_(std::move(dir)) {}
    std::string_view kind() const override { return "ReliableCheckpointRDD"; }
    const char* type_key() const override { return rdd_type_key<ReliableCheckpointRdd>(); }
    void encode_params(Encoder& e) const override { e.write(dir_); }
    static std::shared_ptr<RddBase> decode(LineageDecoder&, Decoder& d, int id, int parts) {
        return std::make_shared<ReliableCheckpointRdd>(id, parts, d.read<std::string>());
    }
    const std::string& dir() const noexcept { return dir_; }

    void compute(int p, TaskContext& tc, FunctionRef<void(T&&)> out) override {
        namespace fs = std::filesystem;
        fs::path path = fs::path(dir_) / checkpoint_file_name(p);
        std::ifstream in(path, std::ios::binary);
        if (!in) throw std::runtime_error(fmt::format("Checkpoint file {} cannot be read", path.string()));
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        tc.metrics().input_bytes_read += bytes.size();
        Decoder d(bytes);
        try {
            while (!d.done()) {
                tc.kill_if_interrupted();
                ++tc.metrics().input_records_read;
                out(d.read<T>());
            }
        } catch (const DecodeError& e) {
            throw std::runtime_error(fmt::format("Checkpoint file {} is corrupt: {}", path.string(), e.what()));
        }
    }

private:
    std::string dir_;
};

}  // namespace ember::scheduler
