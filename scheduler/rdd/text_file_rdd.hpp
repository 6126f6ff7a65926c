// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// TextFileRdd: the lines of text files (Spark's textFile: a HadoopRDD of TextInputFormat).

#include "scheduler/rdd/rdd_base.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ember::scheduler {

/// A byte range of one file.
struct FileSplit {
    std::string path;
    std::uint64_t start = 0;
    std::uint64_t length = 0;
    EMBER_SERDE(path, start, length)
    bool operator==(const FileSplit&) const = default;
};

/// Lines of a set of files. A line ends at '\n' (a '\r' before it is dropped); the last line of
/// a file needs no '\n'. A split owns the lines that *start* inside it, so splits of one file
/// never lose or repeat a line, and a file boundary always ends a line.
///
/// Partitions pack whole files and pieces of big files in path order up to a target size of
/// total/min_partitions bytes, capped at ember.files.maxPartitionBytes (128m); small files are
/// combined (each counted as ember.files.openCostInBytes, 4k, extra), as Spark SQL's
/// FilePartition does, so a tree of thousands of small files does not become thousands of tasks.
/// Where maxPartitionBytes caps the target (an input of more than min_partitions x 128 MiB), and
/// given the `cores` that will run them (plan()), the last partitions shrink so that the cores
/// finish together: a partition aims at the target or at what is left to plan / (2 x cores),
/// whichever is smaller, but at least a quarter of the target (guided self-scheduling,
/// Polychronopoulos and Kuck, 1987). Equal bytes are not equal work (a word count's task of
/// 128 MiB of the Linux tree takes 0.4-1.3 s by how many distinct words it holds), and with equal
/// partitions the last one kept one of two executors busy up to a whole task after the other had
/// none left; the Linux tree's 13 partitions become 17.
///
/// Each task carries its own partition's splits (TaskDescription::partition_data, as Spark's
/// tasks carry their HadoopPartition), not the stage binary: an executor decodes the file names
/// of the tasks it runs, not of the whole tree, and the stage binary of a tree of a million files
/// stays small (with every split in it, it would pass ember.rpc.message.maxSize near two
/// million files).
///
/// Threading: immutable.
class TextFileRdd final : public RddNode<std::string> {
public:
    TextFileRdd(int id, std::vector<std::vector<FileSplit>> partitions);

    /// Lists `paths` (each a file, or a directory read recursively: every regular file, hidden
    /// ones included; symlinks inside the tree are skipped, as `find -type f` does, while a
    /// symlink given as a path itself is followed) and plans partitions. A directory's tree is
    /// walked by `list_threads` threads, each reading the next unread directory (Hadoop's
    /// mapreduce.input.fileinputformat.list-status.num-threads, which Spark users set as
    /// spark.hadoop.*; here ember.hadoop.mapreduce.input.fileinputformat.list-status.num-threads);
    /// the files of each path come out sorted by path whatever the count.
    /// `cores`: how many tasks will run at once (SparkContext passes its default parallelism);
    /// 0 leaves every partition at the target size.
    /// Throws std::runtime_error naming the path if it is missing, unreadable or has no files.
    static std::vector<std::vector<FileSplit>> plan(const std::vector<std::string>& paths, int min_partitions,
                                                    std::uint64_t max_partition_bytes, std::uint64_t open_cost,
                                                    int list_threads = 1, int cores = 0);
    /// The input files of `paths` with their sizes, as plan() sees them (same rules, same order),
    /// listed by `threads` threads.
    static std::vector<std::pair<std::string, std::uint64_t>> list_files(const std::vector<std::string>& paths,
                                                                        int threads = 1);

    std::string_view kind() const override { return "HadoopRDD"; }
    const char* type_key() const override;
    /// Nothing: the splits go with the tasks (write_partition_data).
    void encode_params(Encoder&) const override {}
    static std::shared_ptr<RddBase> decode(LineageDecoder&, Decoder& d, int id, int parts);
    bool write_partition_data(int p, Encoder& e) const override;
    /// The lines of partition p's splits: the driver's own, or on an executor the ones the task
    /// carries (a task that carries none fails naming the RDD and partition; malformed bytes
    /// are a DecodeError).
    void compute(int p, TaskContext& tc, FunctionRef<void(std::string&&)> out) override;

    /// The planned splits per partition; empty in an executor's copy.
    const std::vector<std::vector<FileSplit>>& partitions() const noexcept { return partitions_; }

    /// Emits the lines that start in [split.start, split.start + split.length) of one file.
    static void read_split(const FileSplit& split, TaskContext* tc, FunctionRef<void(std::string&&)> out);

private:
    TextFileRdd(int id, int parts) : RddNode<std::string>(id, parts), from_tasks_(true) {}
    std::vector<std::vector<FileSplit>> partitions_;
    bool from_tasks_ = false;  // an executor's copy: the splits come with each task
};

}  // namespace ember::scheduler
