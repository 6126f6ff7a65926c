// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Prng: the simulator's random numbers (xoshiro256**, seeded through splitmix64). Written out
/// here rather than taken from <random>, whose distributions differ between standard libraries:
/// a seed must give the same run on every build.

#include <cmath>
#include <cstdint>

namespace ember::sim {

/// A small, fast generator whose every draw is a function of the seed and the draws before it.
/// Threading: not thread-safe (a simulation runs on one thread).
class Prng {
public:
    explicit Prng(std::uint64_t seed) noexcept {
        for (auto& w : s_) {
            seed += 0x9e3779b97f4a7c15ull;  // splitmix64
            std::uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            w = z ^ (z >> 31);
        }
    }

    /// 64 uniformly random bits.
    std::uint64_t next() noexcept {
        std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }
    /// Uniform in [0, 1).
    double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    /// Uniform in [lo, hi] (hi >= lo).
    std::uint64_t between(std::uint64_t lo, std::uint64_t hi) noexcept {
        std::uint64_t span = hi - lo + 1;
        if (span == 0) return next();  // the whole 64-bit range
        return lo + static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * span) >> 64);
    }
    /// True with probability `p`.
    bool chance(double p) noexcept { return p > 0 && uniform() < p; }
    /// Exponentially distributed with mean `mean`.
    double exponential(double mean) noexcept { return -mean * std::log1p(-uniform()); }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
    std::uint64_t s_[4];
};

}  // namespace ember::sim
