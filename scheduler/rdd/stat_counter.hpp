// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// StatCounter: count, mean, variance, max and min of numbers in one pass, mergeable across
/// partitions (Spark's org.apache.spark.util.StatCounter, behind stats(), mean() and sum()).

#include "storage/serializer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace ember {

/// Welford's update per value and Chan et al.'s pairwise merge, as Spark's StatCounter (which
/// also shifts the mean towards the larger side when one count is 10x the other, for accuracy).
/// An empty counter has count 0, mean 0, max -inf, min +inf and NaN variances, as Spark's.
/// Threading: a value type; not synchronised.
class StatCounter {
public:
    StatCounter() = default;

    /// Adds one value.
    StatCounter& merge(double value) noexcept {
        double delta = value - mu_;
        ++n_;
        mu_ += delta / static_cast<double>(n_);
        m2_ += delta * (value - mu_);
        max_ = std::max(max_, value);
        min_ = std::min(min_, value);
        return *this;
    }
    /// Adds another counter's values.
    StatCounter& merge(const StatCounter& other) noexcept {
        if (other.n_ == 0) return *this;
        if (n_ == 0) return *this = other;
        const double n = static_cast<double>(n_), on = static_cast<double>(other.n_);
        double delta = other.mu_ - mu_;
        if (on * 10 < n) {
            mu_ = mu_ + (delta * on) / (n + on);
        } else if (n * 10 < on) {
            mu_ = other.mu_ - (delta * n) / (n + on);
        } else {
            mu_ = (mu_ * n + other.mu_ * on) / (n + on);
        }
        m2_ += other.m2_ + (delta * delta * n * on) / (n + on);
        n_ += other.n_;
        max_ = std::max(max_, other.max_);
        min_ = std::min(min_, other.min_);
        return *this;
    }

    std::uint64_t count() const noexcept { return n_; }
    double mean() const noexcept { return mu_; }
    double sum() const noexcept { return static_cast<double>(n_) * mu_; }
    double max() const noexcept { return max_; }
    double min() const noexcept { return min_; }
    /// Population variance (divides by count); NaN when empty.
    double variance() const noexcept {
        return n_ == 0 ? std::numeric_limits<double>::quiet_NaN() : m2_ / static_cast<double>(n_);
    }
    /// Sample variance (divides by count - 1); NaN with fewer than two values.
    double sample_variance() const noexcept {
        return n_ <= 1 ? std::numeric_limits<double>::quiet_NaN() : m2_ / static_cast<double>(n_ - 1);
    }
    double stdev() const noexcept { return std::sqrt(variance()); }
    double sample_stdev() const noexcept { return std::sqrt(sample_variance()); }

    EMBER_SERDE(n_, mu_, m2_, max_, min_)

private:
    std::uint64_t n_ = 0;
    double mu_ = 0;
    double m2_ = 0;  ///< sum of squared deviations from the mean
    double max_ = -std::numeric_limits<double>::infinity();
    double min_ = std::numeric_limits<double>::infinity();
};

}  // namespace ember
