// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Words: the words of a line as string_views, lazily. A word is a maximal run of bytes that are
/// not ASCII whitespace (space, \t, \n, \v, \f, \r), compared byte for byte.

#include <cstddef>
#include <iterator>
#include <string_view>

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
            while (pos_ < n && is_space(static_cast<unsigned char>(text_[pos_]))) ++pos_;
            start_ = pos_;
            if (pos_ == n) {
                start_ = std::string_view::npos;  // the end iterator
                return;
            }
            while (pos_ < n && !is_space(static_cast<unsigned char>(text_[pos_]))) ++pos_;
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
