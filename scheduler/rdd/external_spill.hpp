// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Reduce-side spilling: ExternalAppendOnlyMap (aggregation by key) and ExternalSorter (sorting
/// by key) keep their records in memory up to the task's execution memory, then write them to
/// temp_local_* files in the executor's local dirs and merge the files at the end (Spark's
/// ExternalAppendOnlyMap, ExternalSorter, SizeTracker and Spillable).

#include "scheduler/function_ref.hpp"
#include "scheduler/rdd/size_estimator.hpp"
#include "scheduler/rdd/string_combine_map.hpp"
#include "scheduler/task_context.hpp"
#include "shuffle/partitioner.hpp"
#include "storage/block_manager.hpp"
#include "storage/serializer.hpp"

#include <boost/unordered/unordered_flat_map.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <queue>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace ember::scheduler {

/// One spill: batches of encoded records, each framed by its length (u32, little-endian), in a
/// temp_local_<uuid> file that is deleted with this object.
/// Threading: single-threaded.
class SpillFile {
public:
    explicit SpillFile(storage::DiskBlockManager& disk)
        : path_(disk.get_file(storage::BlockId{storage::TempLocalBlockId{storage::random_uuid()}})) {
        fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd_ < 0) throw std::runtime_error(fmt::format("cannot create spill file {}: {}", path_, std::strerror(errno)));
    }
    ~SpillFile() {
        if (fd_ >= 0) ::close(fd_);
        ::unlink(path_.c_str());
    }
    SpillFile(const SpillFile&) = delete;
    SpillFile& operator=(const SpillFile&) = delete;

    /// Appends one batch; throws std::runtime_error naming the file (e.g. disk full).
    void append(const std::string& batch) {
        auto len = static_cast<std::uint32_t>(batch.size());
        write_all(&len, sizeof len);
        write_all(batch.data(), batch.size());
    }
    std::uint64_t bytes() const noexcept { return size_; }

    /// Reads the batches back in order.
    class Reader {
    public:
        explicit Reader(const SpillFile& f) : f_(&f) {}
        /// The next batch into `out`; false at the end.
        bool next(std::string& out) {
            if (offset_ >= f_->size_) return false;
            std::uint32_t len = 0;
            f_->read_all(&len, sizeof len, offset_);
            out.resize(len);
            f_->read_all(out.data(), len, offset_ + sizeof len);
            offset_ += sizeof len + len;
            return true;
        }

    private:
        const SpillFile* f_;
        std::uint64_t offset_ = 0;
    };

private:
    void write_all(const void* p, std::size_t n) {
        const char* c = static_cast<const char*>(p);
        while (n > 0) {
            ssize_t w = ::pwrite(fd_, c, n, static_cast<off_t>(size_));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) throw std::runtime_error(fmt::format("cannot write spill file {}: {}", path_, std::strerror(errno)));
            c += w;
            n -= static_cast<std::size_t>(w);
            size_ += static_cast<std::uint64_t>(w);
        }
    }
    void read_all(void* p, std::size_t n, std::uint64_t at) const {
        char* c = static_cast<char*>(p);
        while (n > 0) {
            ssize_t r = ::pread(fd_, c, n, static_cast<off_t>(at));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                throw std::runtime_error(fmt::format("cannot read spill file {}: {}", path_,
                                                     r == 0 ? "unexpected end of file" : std::strerror(errno)));
            }
            c += r;
            n -= static_cast<std::size_t>(r);
            at += static_cast<std::uint64_t>(r);
        }
    }

    std::string path_;
    int fd_ = -1;
    std::uint64_t size_ = 0;
};

/// When to spill: past the task's execution memory (ExecutorServices::task_memory_bytes, at least
/// 1 MiB) less the fetched shuffle blocks the task holds in memory (TaskContext::
/// fetch_memory_bytes, counted up to three quarters of the budget), checked every 32 records, or
/// past ember.shuffle.spill.numElementsForceSpillThreshold records in memory (Spark's key;
/// unlimited by default, for tests).
struct SpillPolicy {
    std::uint64_t budget_bytes;
    std::uint64_t force_spill_elements;
    const std::uint64_t* fetched_bytes = nullptr;

    static SpillPolicy from(TaskContext& tc) {
        auto force = tc.conf().get_int("ember.shuffle.spill.numElementsForceSpillThreshold", 0);
        return {std::max<std::uint64_t>(tc.services().task_memory_bytes, 1u << 20),
                force > 0 ? static_cast<std::uint64_t>(force) : ~std::uint64_t{0}, &tc.fetch_memory_bytes()};
    }
    /// The bytes a spilling structure may hold now.
    std::uint64_t limit() const noexcept {
        std::uint64_t fetched = fetched_bytes ? *fetched_bytes : 0;
        return budget_bytes - std::min(fetched, budget_bytes / 4 * 3);
    }
};

/// Records per spill batch (Spark's spark.shuffle.spill.batchSize default).
inline constexpr std::size_t kSpillBatchRecords = 10'000;

/// Writes `records` to a new spill file in batches of kSpillBatchRecords, each record with
/// `write(Encoder&, record)`, and adds the spill to the task's metrics (`in_memory_bytes`: the
/// estimate of what left memory).
template <class Records, class Write>
std::unique_ptr<SpillFile> write_spill(TaskContext& tc, Records&& records, Write&& write, std::uint64_t in_memory_bytes) {
    auto file = std::make_unique<SpillFile>(tc.services().block_manager.disk_block_manager());
    Encoder enc;
    std::size_t n = 0;
    for (auto& r : records) {
        write(enc, r);
        if (++n % kSpillBatchRecords == 0) {
            file->append(enc.bytes());
            enc.clear();
        }
    }
    if (enc.size() > 0) file->append(enc.bytes());
    auto& m = tc.metrics();
    m.observe_execution_memory(in_memory_bytes + tc.fetch_memory_bytes());
    m.memory_bytes_spilled += in_memory_bytes;
    m.disk_bytes_spilled += file->bytes();
    return file;
}

/// Hash aggregation that spills (Spark's ExternalAppendOnlyMap). Entries spill sorted by the
/// stable hash of their key; drain() merges the spills and what is left in memory by hash,
/// combining equal keys with `merge`, so each key comes out once with all its values. In memory
/// the entries live in an open-addressing table (boost::unordered_flat_map): no allocation per
/// key beyond the key's own. String keys live in a StringCombineMap instead (keys copied into an
/// arena, each slot keeping its key's hash): one XXH3 per update, none when the table grows or
/// spills, and no std::string per key until drain() hands the key out, reading the arena in
/// order when the combiners live there too (trivially copyable ones).
///
/// Size: estimated as Spark's SizeTracker does, by walking the map at updates 2x apart and
/// extrapolating between walks, so growing combiners (group_by_key's vectors) count. Spark
/// walks at 1.1x; here that cost word count 3% (each walk is a pass over the map). String keys
/// with trivially copyable combiners (reduce_by_key's counts) are counted exactly instead: the
/// table's and the arena's bytes (StringCombineMap::memory_bytes), and the references a spill
/// sorts.
///
/// Threading: single-threaded (one task).
template <class K, class C>
class ExternalAppendOnlyMap {
    static constexpr bool kStringKeys = std::is_same_v<K, std::string>;
    static constexpr bool kExactSize = kStringKeys && kStringCombineRecordLayout<C>;

public:
    ExternalAppendOnlyMap(TaskContext& tc, SpillPolicy policy) : tc_(tc), policy_(policy) {}

    /// Creates the combiner of `k` with create() or updates it with update(C&). `k` is a K, or a
    /// view of one that hashes and compares alike (a std::string_view for std::string keys), which
    /// becomes a K only when the key is new.
    template <class KeyLike, class Create, class Update>
    void upsert(KeyLike&& k, Create&& create, Update&& update) {
        if constexpr (kStringKeys) {
            std::string_view key = k;
            upsert_hashed(key, shuffle::stable_hash(key), create, update);
        } else if constexpr (std::is_default_constructible_v<C> && std::is_move_assignable_v<C>) {
            // One probe of the table for a new key, not a find and then an emplace.
            auto [it, fresh] = map_.try_emplace(std::forward<KeyLike>(k));
            if (fresh) {
                try {
                    it->second = create();
                } catch (...) {
                    map_.erase(it);  // no default combiner is left behind
                    throw;
                }
            } else {
                update(it->second);
            }
            counted_update();
        } else {
            auto it = map_.find(k);
            if (it == map_.end()) {
                map_.emplace(K(std::forward<KeyLike>(k)), create());
            } else {
                update(it->second);
            }
            counted_update();
        }
    }

    /// upsert() of a string key whose shuffle::stable_hash is `h`, for callers that hashed it
    /// already (to prefetch()).
    template <class Create, class Update>
    void upsert_hashed(std::string_view key, std::uint64_t h, Create&& create, Update&& update)
        requires kStringKeys
    {
        if (C* have = map_.find(key, h)) {
            update(*have);
        } else {
            map_.insert(key, h, C(create()));
        }
        counted_update();
    }

    /// Asks the CPU to fetch where the lookup of a string key with shuffle::stable_hash `h` starts
    /// (a hint; StringCombineMap::prefetch). Only with combiners in the arena's records.
    void prefetch(std::uint64_t h) const noexcept
        requires kExactSize
    {
        map_.prefetch(h);
    }

    /// Room for `n` keys in memory before the table next grows. String keys: StringCombineMap::reserve,
    /// whose slots count against the budget at once; other keys: the table's slots, which the
    /// sampled size estimate does not count (a caller reserves what it is about to insert).
    void reserve(std::size_t n) { map_.reserve(n); }

    std::size_t spill_count() const noexcept { return spills_.size(); }
    /// Keys in memory (not counting spilled ones): after the last upsert, what the table holds.
    std::size_t size_in_memory() const noexcept { return map_.size(); }

    /// The combiner of `k`, or nullptr if it has none. Only while spill_count() is 0 (the map
    /// then holds every combiner); the pointer stays valid until the next upsert or drain.
    C* find_in_memory(const K& k) {
        if constexpr (kStringKeys) {
            return map_.find(k, shuffle::stable_hash(k));
        } else {
            auto it = map_.find(k);
            return it == map_.end() ? nullptr : &it->second;
        }
    }

    /// Calls `f(const K&)` for each key in memory, in the table's order (a string key is made a
    /// std::string for the call). Does not change the map.
    template <class F>
    void for_each_key_in_memory(F&& f) {
        if constexpr (kStringKeys) {
            map_.for_each([&](std::string_view k, std::uint64_t, C&) { f(K(k)); });
        } else {
            for (const auto& kc : map_) f(kc.first);
        }
    }

    /// Records the map's memory in the task's metrics as drain() does: for a caller that reads the
    /// map with find_in_memory() and does not drain it.
    void observe_memory() const { tc_.metrics().observe_execution_memory(estimate() + tc_.fetch_memory_bytes()); }

    /// Emits every (key, combiner) once, merging a key's combiners from spills with `merge(C&,
    /// C&&)`. Consumes the map.
    template <class Merge>
    void drain(Merge&& merge, FunctionRef<void(std::pair<K, C>&&)> out) {
        observe_memory();
        if (spills_.empty()) {
            if constexpr (kStringKeys) {
                map_.for_each([&](std::string_view k, std::uint64_t, C& c) { out(std::pair<K, C>(K(k), std::move(c))); });
            } else {
                for (auto& kc : map_) out(std::pair<K, C>(std::move(const_cast<K&>(kc.first)), std::move(kc.second)));
            }
            map_ = {};
            return;
        }
        std::vector<std::unique_ptr<Stream>> streams;
        for (auto& f : spills_) streams.push_back(std::make_unique<FileStream>(*f));
        streams.push_back(std::make_unique<MemoryStream>(sorted_refs()));
        using Head = std::pair<std::uint64_t, std::size_t>;  // (hash, stream)
        std::priority_queue<Head, std::vector<Head>, std::greater<>> heads;
        for (std::size_t i = 0; i < streams.size(); ++i) {
            if (streams[i]->advance()) heads.push({streams[i]->current().hash, i});
        }
        std::vector<std::pair<K, C>> bucket;  // the keys of one hash value
        while (!heads.empty()) {
            std::uint64_t h = heads.top().first;
            while (!heads.empty() && heads.top().first == h) {
                std::size_t i = heads.top().second;
                heads.pop();
                // Every entry of this stream with hash h.
                do {
                    Entry& e = streams[i]->current();
                    auto same = std::find_if(bucket.begin(), bucket.end(), [&](auto& kc) { return kc.first == e.key; });
                    if (same == bucket.end()) {
                        bucket.emplace_back(std::move(e.key), std::move(e.combiner));
                    } else {
                        merge(same->second, std::move(e.combiner));
                    }
                } while (streams[i]->advance() && streams[i]->current().hash == h);
                if (!streams[i]->exhausted()) heads.push({streams[i]->current().hash, i});
            }
            tc_.kill_if_interrupted();
            for (auto& kc : bucket) out(std::move(kc));
            bucket.clear();
        }
        spills_.clear();
        map_ = {};
    }

private:
    struct Entry {
        std::uint64_t hash = 0;
        K key{};
        C combiner{};
    };
    /// The table's hash: stable_hash (avalanching: XXH3 or a 64-bit mixer), rotated by
    /// kReduceSideHashRotation bits, as the string keys' table is. Records arrive in the order
    /// of the map sides' tables, and a table that placed them by the same bits would get them in
    /// the order of its own slots and pile them up in long probe runs (and a partition's keys
    /// share their hash modulo the partition count, which fixes the low bits the tags come from).
    struct TableHash {
        using is_transparent = void;
        using is_avalanching = void;
        template <class T>
        std::size_t operator()(const T& v) const {
            return static_cast<std::size_t>(std::rotr(shuffle::stable_hash(v), kReduceSideHashRotation));
        }
    };
    using Map = std::conditional_t<kStringKeys, StringCombineMap<C, kReduceSideHashRotation>,
                                   boost::unordered_flat_map<K, C, TableHash, std::equal_to<>>>;
    /// An entry of map_ in sorted_refs(): its key's hash, then where its key and combiner are.
    struct GenericRef {
        std::uint64_t hash;
        const std::pair<const K, C>* entry;
        const K& key() const noexcept { return entry->first; }
        C& combiner() const noexcept { return const_cast<C&>(entry->second); }
    };
    struct StringRef {
        std::uint64_t hash;
        std::string_view k;
        C* c;
        std::string_view key() const noexcept { return k; }
        C& combiner() const noexcept { return *c; }
    };
    using Ref = std::conditional_t<kStringKeys, StringRef, GenericRef>;
    /// Entries in hash order.
    class Stream {
    public:
        virtual ~Stream() = default;
        /// Moves to the next entry; false (and exhausted()) at the end.
        virtual bool advance() = 0;
        Entry& current() { return cur_; }
        bool exhausted() const noexcept { return done_; }

    protected:
        Entry cur_;
        bool done_ = false;
    };
    /// The map's own entries in hash order, moved out of the map one by one (drain() then
    /// clears the map).
    class MemoryStream final : public Stream {
    public:
        explicit MemoryStream(std::vector<Ref> v) : v_(std::move(v)) {}
        bool advance() override {
            if (i_ >= v_.size()) return !(this->done_ = true);
            const Ref& r = v_[i_++];
            this->cur_.hash = r.hash;
            if constexpr (kStringKeys) {
                this->cur_.key.assign(r.key());
            } else {
                this->cur_.key = std::move(const_cast<K&>(r.key()));
            }
            this->cur_.combiner = std::move(r.combiner());
            return true;
        }

    private:
        std::vector<Ref> v_;
        std::size_t i_ = 0;
    };
    class FileStream final : public Stream {
    public:
        explicit FileStream(const SpillFile& f) : reader_(f) {}
        bool advance() override {
            while (!d_ || d_->done()) {
                if (!reader_.next(batch_)) return !(this->done_ = true);
                d_.emplace(batch_);
            }
            this->cur_.hash = d_->read<std::uint64_t>();
            this->cur_.key = d_->read<K>();
            this->cur_.combiner = d_->read<C>();
            return true;
        }

    private:
        SpillFile::Reader reader_;
        std::string batch_;
        std::optional<Decoder> d_;
    };

    /// The map's entries in hash order, as references (16 bytes each, 32 for string keys), where
    /// a copy of the entries would double the map's memory while it spills.
    std::vector<Ref> sorted_refs() {
        std::vector<Ref> v;
        v.reserve(map_.size());
        if constexpr (kStringKeys) {
            map_.for_each([&](std::string_view k, std::uint64_t h, C& c) { v.push_back(Ref{h, k, &c}); });
        } else {
            for (auto& kv : map_) v.push_back(Ref{shuffle::StableHash{}(kv.first), &kv});
        }
        std::sort(v.begin(), v.end(), [](const Ref& a, const Ref& b) { return a.hash < b.hash; });
        return v;
    }
    /// Bytes of an entry beyond its key and combiner: the table's empty slots (it is at least
    /// 7/16 full: up to 9/7 of a slot more) and metadata, and its place in sorted_refs() while
    /// spilling. A string key's slot holds its hash, address and length (24 bytes) and, for the
    /// sampled combiners (not trivially copyable), the combiner.
    static constexpr std::size_t kSlotBytes = kStringKeys ? 24 + sizeof(C) : sizeof(std::pair<const K, C>);
    static constexpr std::size_t kEntryOverhead = (kSlotBytes * 9 + 6) / 7 + 2 + sizeof(Ref);

    void sample() {
        std::uint64_t size = 0;
        if constexpr (kStringKeys) {
            map_.for_each([&](std::string_view k, std::uint64_t, const C& c) {
                size += k.size() + estimate_size(c) + kEntryOverhead;
            });
        } else {
            for (const auto& [k, c] : map_) size += estimate_size(k) + estimate_size(c) + kEntryOverhead;
        }
        if (updates_ > sampled_updates_ && size > sampled_bytes_) {
            bytes_per_update_ = static_cast<double>(size - sampled_bytes_) / static_cast<double>(updates_ - sampled_updates_);
        }
        sampled_bytes_ = size;
        sampled_updates_ = updates_;
        next_sample_ = static_cast<std::uint64_t>(static_cast<double>(updates_) * 2.0) + 1;
    }
    // After each update: samples the size when due and spills when over the limit.
    void counted_update() {
        ++updates_;
        if (!kExactSize && updates_ >= next_sample_) sample();
        if ((++since_check_ & 31) == 0 && (estimate() > policy_.limit() || map_.size() >= policy_.force_spill_elements)) {
            spill();
        }
    }
    std::uint64_t estimate() const {
        if constexpr (kExactSize) return map_.memory_bytes() + map_.size() * sizeof(Ref);
        return sampled_bytes_ +
               static_cast<std::uint64_t>(bytes_per_update_ * static_cast<double>(updates_ - sampled_updates_));
    }

    void spill() {
        std::uint64_t in_memory = estimate();
        spills_.push_back(write_spill(
            tc_, sorted_refs(),
            [](Encoder& enc, const Ref& r) {
                enc.write(r.hash);
                if constexpr (kStringKeys) {
                    enc.put_bytes(r.key());  // as Serde<std::string>
                } else {
                    enc.write(r.key());
                }
                enc.write(r.combiner());
            },
            in_memory));
        map_ = {};
        updates_ = since_check_ = 0;
        sampled_bytes_ = sampled_updates_ = 0;
        bytes_per_update_ = 0;
        next_sample_ = 1;
    }

    TaskContext& tc_;
    SpillPolicy policy_;
    Map map_;
    std::vector<std::unique_ptr<SpillFile>> spills_;
    std::uint64_t updates_ = 0, since_check_ = 0, next_sample_ = 1;
    std::uint64_t sampled_bytes_ = 0, sampled_updates_ = 0;
    double bytes_per_update_ = 0;
};

/// Fills a hash table sized before its first insert: holds the first records (up to
/// kMaxRecords of them or kMaxBytes, by estimate_size), then calls reserve(n) with how many it
/// holds and insert(Rec&&) on each; later records are inserted as they come. A table that grows
/// from empty to n keys moves every entry again at each doubling, most of the cost of building
/// it (boost::unordered_flat_map, 16 K int keys with 40-byte entries: 219 instructions a record
/// growing, 85 sized). The count is of records, so a side with repeated keys reserves more
/// slots than it fills; the bounds limit that and what is held outside the table's memory
/// estimate. Call finish() after the last record.
/// Threading: single-threaded (one task).
template <class Rec, class Reserve, class Insert>
class SizedFill {
public:
    static constexpr std::size_t kMaxRecords = std::size_t{1} << 16;
    static constexpr std::size_t kMaxBytes = std::size_t{4} << 20;

    SizedFill(Reserve reserve, Insert insert) : reserve_(std::move(reserve)), insert_(std::move(insert)) {}

    void add(Rec&& r) {
        if (sized_) {
            insert_(std::move(r));
            return;
        }
        if constexpr (std::is_trivially_copyable_v<Rec>) {
            held_bytes_ += sizeof(Rec);
        } else {
            held_bytes_ += estimate_size(r);
        }
        held_.push_back(std::move(r));
        if (held_.size() == kMaxRecords || held_bytes_ >= kMaxBytes) release();
    }
    void finish() {
        if (!sized_) release();
    }

private:
    void release() {
        sized_ = true;
        reserve_(held_.size());
        for (Rec& r : held_) insert_(std::move(r));
        std::vector<Rec>().swap(held_);
    }

    Reserve reserve_;
    Insert insert_;
    std::vector<Rec> held_;
    std::size_t held_bytes_ = 0;
    bool sized_ = false;
};

/// A SizedFill of `Rec` records calling `reserve` and `insert` (lambdas).
template <class Rec, class Reserve, class Insert>
SizedFill<Rec, Reserve, Insert> sized_fill(Reserve reserve, Insert insert) {
    return SizedFill<Rec, Reserve, Insert>(std::move(reserve), std::move(insert));
}

/// Sorting that spills (Spark's ExternalSorter with an ordering and no aggregation): records
/// are buffered up to the budget, then sorted and written as a run; drain() merges the runs
/// and the in-memory rest with `less`.
///
/// Size: the records' heap bytes (estimate_size) plus the buffer's capacity; a buffer about to
/// grow counts its old and new arrays together, as both exist while it grows, and spills instead
/// if they would not fit.
/// Threading: single-threaded (one task).
template <class K, class V, class Less>
class ExternalSorter {
public:
    using Record = std::pair<K, V>;

    ExternalSorter(TaskContext& tc, SpillPolicy policy, Less less) : tc_(tc), policy_(policy), less_(std::move(less)) {}

    void insert(Record&& r) {
        std::uint64_t heap = estimate_size(r) - std::min(estimate_size(r), sizeof(Record));
        if (buf_.size() == buf_.capacity() && !buf_.empty()) {
            // Growing doubles the array, and the old one lives until the records have moved.
            std::uint64_t growing = heap_bytes_ + heap + 3 * buf_.capacity() * sizeof(Record);
            if (growing > policy_.limit()) spill();
        }
        heap_bytes_ += heap;
        buf_.push_back(std::move(r));
        if ((buf_.size() & 31) == 0 &&
            (heap_bytes_ + buf_.capacity() * sizeof(Record) > policy_.limit() ||
             buf_.size() >= policy_.force_spill_elements)) {
            spill();
        }
    }
    std::size_t size() const noexcept { return count_ + buf_.size(); }
    std::size_t spill_count() const noexcept { return runs_.size(); }

    /// Emits every record in `less` order (equal keys in unspecified order). Consumes the sorter.
    void drain(FunctionRef<void(Record&&)> out) {
        tc_.metrics().observe_execution_memory(heap_bytes_ + buf_.capacity() * sizeof(Record) + tc_.fetch_memory_bytes());
        sort_buffer();
        if (runs_.empty()) {
            for (auto& r : buf_) out(std::move(r));
            buf_.clear();
            return;
        }
        struct Run {
            std::optional<SpillFile::Reader> reader;  // empty: the in-memory buffer
            std::string batch;
            std::optional<Decoder> d;
            std::size_t next = 0;
            Record cur;
        };
        std::vector<Run> runs(runs_.size() + 1);
        for (std::size_t i = 0; i < runs_.size(); ++i) runs[i].reader.emplace(*runs_[i]);
        auto advance = [&](Run& r) {
            if (!r.reader) {
                if (r.next >= buf_.size()) return false;
                r.cur = std::move(buf_[r.next++]);
                return true;
            }
            while (!r.d || r.d->done()) {
                if (!r.reader->next(r.batch)) return false;
                r.d.emplace(r.batch);
            }
            r.cur.first = r.d->template read<K>();
            r.cur.second = r.d->template read<V>();
            return true;
        };
        // Min-heap on the runs' current keys.
        auto greater = [&](std::size_t a, std::size_t b) { return less_(runs[b].cur.first, runs[a].cur.first); };
        std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(greater)> heap(greater);
        for (std::size_t i = 0; i < runs.size(); ++i) {
            if (advance(runs[i])) heap.push(i);
        }
        std::size_t n = 0;
        while (!heap.empty()) {
            std::size_t i = heap.top();
            heap.pop();
            out(std::move(runs[i].cur));
            if (advance(runs[i])) heap.push(i);
            if ((++n & 1023) == 0) tc_.kill_if_interrupted();
        }
        buf_.clear();
        runs_.clear();
    }

private:
    void sort_buffer() {
        std::sort(buf_.begin(), buf_.end(), [this](const Record& a, const Record& b) { return less_(a.first, b.first); });
    }
    void spill() {
        sort_buffer();
        runs_.push_back(write_spill(
            tc_, buf_,
            [](Encoder& enc, const Record& r) {
                enc.write(r.first);
                enc.write(r.second);
            },
            heap_bytes_ + buf_.capacity() * sizeof(Record)));
        count_ += buf_.size();
        // The array is kept for the next run unless it alone would take most of the budget.
        if (buf_.capacity() * sizeof(Record) > policy_.limit() / 2) {
            buf_ = {};
        } else {
            buf_.clear();
        }
        heap_bytes_ = 0;
    }

    TaskContext& tc_;
    SpillPolicy policy_;
    Less less_;
    std::vector<Record> buf_;
    std::uint64_t heap_bytes_ = 0;  // estimate_size of the records beyond their inline part
    std::size_t count_ = 0;
    std::vector<std::unique_ptr<SpillFile>> runs_;
};

}  // namespace ember::scheduler
