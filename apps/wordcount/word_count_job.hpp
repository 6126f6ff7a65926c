// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// The word count job shared by the wordcount app and ember-bench: counts per word, and one pass
/// over the counts for the total, the number of distinct words and the top N.

#include "apps/wordcount/words.hpp"
#include "scheduler/ember.hpp"
#include "shuffle/partitioner.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string_view>
#include <string>
#include <utility>
#include <vector>

namespace wordcount {

using WordCount = std::pair<std::string, std::uint64_t>;

/// The (word, 1) pieces of one line, made as they are read: a forward range over Words of
/// (std::string_view, count) pairs, which flat_map turns into WordCount records; the map-side
/// combine of reduce_by_key borrows the views and copies only new words (RddNode::
/// iterator_borrowed). (`Words(line) | std::views::transform(...)` says the same, but clang 14
/// cannot compile that over libstdc++ 12's ranges, and the sanitizer build uses clang 14.)
class WordOnes {
public:
    explicit WordOnes(std::string_view line) : words_(line) {}

    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = std::pair<std::string_view, std::uint64_t>;
        using difference_type = std::ptrdiff_t;
        using reference = value_type;
        iterator() = default;
        explicit iterator(Words::iterator it) : it_(it) {}
        value_type operator*() const { return value_type(*it_, 1); }
        iterator& operator++() {
            ++it_;
            return *this;
        }
        iterator operator++(int) {
            iterator t = *this;
            ++it_;
            return t;
        }
        friend bool operator==(const iterator& a, const iterator& b) { return a.it_ == b.it_; }

    private:
        Words::iterator it_;
    };
    iterator begin() const { return iterator(words_.begin()); }
    iterator end() const { return iterator(words_.end()); }

private:
    Words words_;
};

/// (word, count) for every distinct word of `lines`, in `partitions` reduce partitions. The
/// words become (word, 1) records in one flat_map (a lazy range over the line), not a flat_map
/// to words and a map to pairs: one step and one string fewer per word.
inline ember::Rdd<WordCount> count_words(const ember::Rdd<std::string>& lines, int partitions) {
    return lines.flat_map([](const std::string& line) { return WordOnes(line); })
        .reduce_by_key([](std::uint64_t a, std::uint64_t b) { return a + b; }, partitions);
}

/// Orders (word, count) by count descending, then word ascending.
inline bool more_frequent(const WordCount& a, const WordCount& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
}

/// An order-independent digest of one (word, count): the sum of these over all words identifies
/// the whole set of counts (two different sets agree with probability about 2^-64).
inline std::uint64_t count_digest(std::string_view word, std::uint64_t count) {
    return ember::shuffle::mix64(ember::shuffle::stable_hash(word) + count * 0x9E3779B97F4A7C15ull);
}

struct WordStats {
    std::uint64_t total = 0;     ///< words, with repetitions
    std::uint64_t distinct = 0;  ///< distinct words
    std::uint64_t digest = 0;    ///< sum of count_digest over all (word, count)
    std::vector<WordCount> top;  ///< the most frequent, most frequent first
    EMBER_SERDE(total, distinct, digest, top)
};

/// Adds one (word, count) to the stats, keeping the `n` most frequent words (a function object
/// with EMBER_SERDE, so `n` travels to the executors).
struct AddToStats {
    std::uint64_t n = 20;
    WordStats operator()(WordStats s, WordCount&& wc) const {
        s.total += wc.second;
        ++s.distinct;
        s.digest += count_digest(wc.first, wc.second);
        if (n == 0) return s;
        // s.top is a heap whose front is the least frequent kept word.
        if (s.top.size() < n) {
            s.top.push_back(std::move(wc));
            std::push_heap(s.top.begin(), s.top.end(), more_frequent);
        } else if (more_frequent(wc, s.top.front())) {
            std::pop_heap(s.top.begin(), s.top.end(), more_frequent);
            s.top.back() = std::move(wc);
            std::push_heap(s.top.begin(), s.top.end(), more_frequent);
        }
        return s;
    }
    EMBER_SERDE(n)
};

/// Merges the stats of two partitions (on the driver).
struct MergeStats {
    std::uint64_t n = 20;
    WordStats operator()(WordStats a, WordStats b) const {
        a.total += b.total;
        a.distinct += b.distinct;
        a.digest += b.digest;
        a.top.insert(a.top.end(), b.top.begin(), b.top.end());
        std::sort(a.top.begin(), a.top.end(), more_frequent);
        if (a.top.size() > n) a.top.resize(n);
        std::make_heap(a.top.begin(), a.top.end(), more_frequent);
        return a;
    }
};

/// Total, distinct and the `n` most frequent words (sorted, most frequent first).
inline WordStats word_stats(const ember::Rdd<WordCount>& counts, std::uint64_t n) {
    WordStats s = counts.aggregate(WordStats{}, AddToStats{n}, MergeStats{n});
    std::sort(s.top.begin(), s.top.end(), more_frequent);
    return s;
}

}  // namespace wordcount
