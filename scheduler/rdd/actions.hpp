// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// The functions ResultTasks run for each action (collect, count, save_as_text_file, aggregate,
/// take_ordered, take, foreach, foreach_partition, lookup, stats), each with the driver-side
/// decoding of its per-partition result.

#include "scheduler/closure.hpp"
#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/rdd/stat_counter.hpp"
#include "scheduler/rdd/text_format.hpp"
#include "scheduler/registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <queue>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace ember::scheduler {

namespace detail {
template <class T>
RddNode<T>& typed(RddBase& rdd) {
    auto* n = dynamic_cast<RddNode<T>*>(&rdd);
    if (!n) throw std::runtime_error("result function applied to an RDD of another record type");
    return *n;
}
}  // namespace detail

/// collect(): the partition's records, encoded back to back.
template <class T>
class CollectFn final : public ResultFunctionBase {
public:
    std::string run(RddBase& rdd, int p, TaskContext& tc) override {
        Encoder e;
        detail::typed<T>(rdd).iterator(p, tc, [&](T&& v) { e.write(v); });
        return e.take();
    }
    const char* type_key() const override { return result_fn_type_key<CollectFn>(); }
    void encode_params(Encoder&) const override {}
    static std::shared_ptr<ResultFunctionBase> decode(Decoder&) { return std::make_shared<CollectFn>(); }

    static void append_results(std::string_view bytes, std::vector<T>& out) {
        Decoder d(bytes);
        while (!d.done()) out.push_back(d.read<T>());
    }
};

/// count(): the number of records.
template <class T>
class CountFn final : public ResultFunctionBase {
public:
    std::string run(RddBase& rdd, int p, TaskContext& tc) override {
        std::uint64_t n = 0;
        detail::typed<T>(rdd).iterator(p, tc, [&](T&&) { ++n; });
        return encode(n);
    }
    const char* type_key() const override { return result_fn_type_key<CountFn>(); }
    void encode_params(Encoder&) const override {}
    static std::shared_ptr<ResultFunctionBase> decode(Decoder&) { return std::make_shared<CountFn>(); }
};

/// save_as_text_file(dir): partition p becomes `dir/part-%05d`, one record per line. The task
/// writes `dir/_temporary/<task attempt>/part-%05d` and renames it into place when done, so a
/// failed or duplicate attempt never leaves a partial part file (Hadoop's FileOutputCommitter).
template <class T>
class SaveAsTextFileFn final : public ResultFunctionBase {
public:
    explicit SaveAsTextFileFn(std::string dir) : dir_(std::move(dir)) {}

    std::string run(RddBase& rdd, int p, TaskContext& tc) override {
        namespace fs = std::filesystem;
        std::string name = fmt::format("part-{:05d}", p);
        fs::path tmp_dir = fs::path(dir_) / "_temporary" / fmt::format("attempt_{}", tc.task_attempt_id());
        std::error_code ec;
        fs::create_directories(tmp_dir, ec);
        if (ec) throw std::runtime_error(fmt::format("Cannot create {}: {}", tmp_dir.string(), ec.message()));
        fs::path tmp = tmp_dir / name;
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) throw std::runtime_error(fmt::format("Cannot create {}: {}", tmp.string(), std::strerror(errno)));
        std::string buf;
        std::uint64_t bytes = 0, records = 0;
        auto flush = [&] {
            std::string_view s = buf;
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
            bytes += buf.size();
            buf.clear();
        };
        detail::typed<T>(rdd).iterator(p, tc, [&](T&& v) {
            append_text(buf, v);
            buf += '\n';
            ++records;
            if (buf.size() >= (1 << 20)) flush();
        });
        flush();
        if (::close(fd) != 0) throw std::runtime_error(fmt::format("Cannot close {}: {}", tmp.string(), std::strerror(errno)));
        fs::rename(tmp, fs::path(dir_) / name, ec);
        if (ec) throw std::runtime_error(fmt::format("Cannot commit {}: {}", name, ec.message()));
        fs::remove_all(tmp_dir, ec);
        tc.metrics().output_bytes_written += bytes;
        tc.metrics().output_records_written += records;
        return {};
    }
    const char* type_key() const override { return result_fn_type_key<SaveAsTextFileFn>(); }
    void encode_params(Encoder& e) const override { e.write(dir_); }
    static std::shared_ptr<ResultFunctionBase> decode(Decoder& d) {
        return std::make_shared<SaveAsTextFileFn>(d.read<std::string>());
    }

private:
    std::string dir_;
};

/// aggregate(zero, seq, comb): folds each partition with seq from `zero`; the driver combines
/// the partition results with comb in partition order.
template <class T, class U, class Seq>
class AggregateFn final : public ResultFunctionBase {
public:
    AggregateFn(U zero, Seq seq) : zero_(std::move(zero)), seq_(std::move(seq)) {}
    std::string run(RddBase& rdd, int p, TaskContext& tc) override {
        U acc = zero_;
        detail::typed<T>(rdd).iterator(p, tc, [&](T&& v) { acc = std::invoke(seq_, std::move(acc), std::move(v)); });
        return encode(acc);
    }
    const char* type_key() const override { return result_fn_type_key<AggregateFn>(); }
    void encode_params(Encoder& e) const override {
        e.write(zero_);
        ClosureCodec<Seq>::encode(e, seq_);
    }
    static std::shared_ptr<ResultFunctionBase> decode(Decoder& d) {
        U zero = d.read<U>();
        return std::make_shared<AggregateFn>(std::move(zero), ClosureCodec<Seq>::decode(d));
    }

private:
    U zero_;
    Seq seq_;
};

/// take_ordered(n, cmp): the n smallest records of the partition under cmp, sorted.
template <class T, class Cmp>
class TakeOrderedFn final : public ResultFunctionBase {
public:
    TakeOrderedFn(std::uint64_t n, Cmp cmp) : n_(n), cmp_(std::move(cmp)) {}
    std::string run(RddBase& rdd, int p, TaskContext& tc) override {
        // A max-heap of the n best so far: its top is the worst kept record.
        auto worse = [this](const T& a, const T& b) { return std::invoke(cmp_, a, b); };
        std::priority_queue<T, std::vector<T>, decltype(worse)> heap(worse);
        if (n_ > 0) {
            detail::typed<T>(rdd).iterator(p, tc, [&](T&& v) {
                if (heap.size() < n_) {
                    heap.push(std::move(v));
                } else if (std::invoke(cmp_, v, heap.top())) {
                    heap.pop();
                    heap.push(std::move(v));
                }
            });
        }
        std::vector<T> out;
        out.reserve(heap.size());
        while (!heap.empty()) {
            out.push_back(heap.top());
            heap.pop();
        }
        std::reverse(out.begin(), out.end());
        return encode(out);
    }
    const char* type_key() const override { return result_fn_type_key<TakeOrderedFn>(); }
    void encode_params(Encoder& e) const override {
        e.write(n_);
        ClosureCodec<Cmp>::encode(e, cmp_);
    }
    static std::shared_ptr<ResultFunctionBase> decode(Decoder& d) {
        auto n = d.read<std::uint64_t>();
        return std::make_shared<TakeOrderedFn>(n, ClosureCodec<Cmp>::decode(d));
    }

private:
    std::uint64_t n_;
    Cmp cmp_;
};

namespace detail {
/// Whether `rdd` or an ancestor in its stage is persisted (its partition must then be computed
/// whole, so that it is cached).
inline bool stage_persists(const RddBase& rdd) {
    if (rdd.storage_level().is_valid()) return true;
    for (auto& dep : rdd.narrow_dependencies()) {
        if (stage_persists(*dep.rdd)) return true;
    }
    return false;
}
}  // namespace detail

/// take(n): the partition's first n records, encoded back to back. The partition is computed
/// only until it has produced them (Spark's iterator.take), unless an RDD of the stage is
/// persisted: then it is computed whole, so that its blocks are cached.
template <class T>
class TakeFn final : public ResultFunctionBase {
public:
    explicit TakeFn(std::uint64_t n) : n_(n) {}
    std::string run(RddBase& rdd, int p, TaskContext& tc) override {
        Encoder e;
        if (n_ == 0) return {};
        const bool stop_early = !detail::stage_persists(rdd);
        std::uint64_t taken = 0;
        try {
            detail::typed<T>(rdd).iterator(p, tc, [&](T&& v) {
                if (taken >= n_) return;
                e.write(v);
                if (++taken >= n_ && stop_early) throw Enough{};
            });
        } catch (const Enough&) {
            // the partition stops here: the rest is not needed
        }
        return e.take();
    }
    const char* type_key() const override { return result_fn_type_key<TakeFn>(); }
    void encode_params(Encoder& e) const override { e.write(n_); }
    static std::shared_ptr<ResultFunctionBase> decode(Decoder& d) {
        return std::make_shared<TakeFn>(d.read<std::uint64_t>());
    }

private:
    struct Enough {};
    std::uint64_t n_;
};

/// foreach(f): calls f(T&&) on every record; returns nothing.
template <class T, class F>
class ForeachFn final : public ResultFunctionBase {
public:
    explicit ForeachFn(F f) : f_(std::move(f)) {}
    std::string run(RddBase& rdd, int p, TaskContext& tc) override {
        detail::typed<T>(rdd).iterator(p, tc, [&](T&& v) { std::invoke(f_, std::move(v)); });
        return {};
    }
    const char* type_key() const override { return result_fn_type_key<ForeachFn>(); }
    void encode_params(Encoder& e) const override { ClosureCodec<F>::encode(e, f_); }
    static std::shared_ptr<ResultFunctionBase> decode(Decoder& d) {
        return std::make_shared<ForeachFn>(ClosureCodec<F>::decode(d));
    }

private:
    F f_;
};

/// foreach_partition(f): calls f(std::vector<T>&&) once with the partition's records (empty
/// partitions included); returns nothing.
template <class T, class F>
class ForeachPartitionFn final : public ResultFunctionBase {
public:
    explicit ForeachPartitionFn(F f) : f_(std::move(f)) {}
    std::string run(RddBase& rdd, int p, TaskContext& tc) override {
        std::vector<T> part;
        detail::typed<T>(rdd).iterator(p, tc, [&](T&& v) { part.push_back(std::move(v)); });
        std::invoke(f_, std::move(part));
        return {};
    }
    const char* type_key() const override { return result_fn_type_key<ForeachPartitionFn>(); }
    void encode_params(Encoder& e) const override { ClosureCodec<F>::encode(e, f_); }
    static std::shared_ptr<ResultFunctionBase> decode(Decoder& d) {
        return std::make_shared<ForeachPartitionFn>(ClosureCodec<F>::decode(d));
    }

private:
    F f_;
};

/// lookup(key): the values of the partition's records whose key equals `key`, encoded back to back.
template <class K, class V>
class LookupFn final : public ResultFunctionBase {
public:
    explicit LookupFn(K key) : key_(std::move(key)) {}
    std::string run(RddBase& rdd, int p, TaskContext& tc) override {
        Encoder e;
        detail::typed<std::pair<K, V>>(rdd).iterator(p, tc, [&](std::pair<K, V>&& kv) {
            if (kv.first == key_) e.write(kv.second);
        });
        return e.take();
    }
    const char* type_key() const override { return result_fn_type_key<LookupFn>(); }
    void encode_params(Encoder& e) const override { e.write(key_); }
    static std::shared_ptr<ResultFunctionBase> decode(Decoder& d) { return std::make_shared<LookupFn>(d.read<K>()); }

private:
    K key_;
};

/// stats(): the partition's StatCounter over its records as doubles.
template <class T>
class StatsFn final : public ResultFunctionBase {
public:
    std::string run(RddBase& rdd, int p, TaskContext& tc) override {
        StatCounter s;
        detail::typed<T>(rdd).iterator(p, tc, [&](T&& v) { s.merge(static_cast<double>(v)); });
        return encode(s);
    }
    const char* type_key() const override { return result_fn_type_key<StatsFn>(); }
    void encode_params(Encoder&) const override {}
    static std::shared_ptr<ResultFunctionBase> decode(Decoder&) { return std::make_shared<StatsFn>(); }
};

}  // namespace ember::scheduler
