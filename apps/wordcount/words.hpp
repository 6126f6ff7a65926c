// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Words: the words of a line as string_views, lazily. A word is a maximal run of bytes that are
/// not ASCII whitespace (space, \t, \n, \v, \f, \r), compared byte for byte.

#include <cstddef>
#include <iterator>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace wordcount {

constexpr bool is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/// A forward range over the words of `text`; the views point into `text`.
class Words {
public:
    explicit Words(std::string_view text) : text_(text) {}

    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = std::string_view;
        using difference_type = std::ptrdiff_t;
        using pointer = const std::string_view*;
        using reference = std::string_view;

        iterator() = default;
        iterator(std::string_view text, std::size_t pos) : text_(text), pos_(pos) { advance(); }
        std::string_view operator*() const { return text_.substr(start_, pos_ - start_); }
        iterator& operator++() {
            advance();
            return *this;
        }
        iterator operator++(int) {
            iterator t = *this;
            advance();
            return t;
        }
        friend bool operator==(const iterator& a, const iterator& b) { return a.start_ == b.start_; }

    private:
        void advance() {
            std::size_t n = text_.size();
            pos_ = skip(pos_, n, false);
            start_ = pos_;
            if (pos_ == n) {
                start_ = std::string_view::npos;  // the end iterator
                return;
            }
            pos_ = skip(pos_ + 1, n, true);
        }
        /// The first position from `i` whose byte is whitespace (`to_space`) or not, or `n`;
        /// 16 bytes at a time with SSE2 where it is available.
        std::size_t skip(std::size_t i, std::size_t n, bool to_space) const {
            const char* p = text_.data();
#if defined(__SSE2__)
            const __m128i blank = _mm_set1_epi8(' ');
            const __m128i nine = _mm_set1_epi8('\t');
            const __m128i four = _mm_set1_epi8(4);
            while (i + 16 <= n) {
                __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
                __m128i d = _mm_sub_epi8(c, nine);  // \t..\r -> 0..4 (unsigned)
                __m128i space = _mm_or_si128(_mm_cmpeq_epi8(c, blank), _mm_cmpeq_epi8(_mm_min_epu8(d, four), d));
                unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(space));
                if (!to_space) mask = ~mask & 0xFFFFu;
                if (mask != 0) return i + static_cast<std::size_t>(__builtin_ctz(mask));
                i += 16;
            }
#endif
            while (i < n && is_space(static_cast<unsigned char>(p[i])) != to_space) ++i;
            return i;
        }
        std::string_view text_;
        std::size_t pos_ = 0;
        std::size_t start_ = std::string_view::npos;
    };

    iterator begin() const { return iterator(text_, 0); }
    iterator end() const { return iterator(); }

private:
    std::string_view text_;
};

}  // namespace wordcount
