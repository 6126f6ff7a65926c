// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// append_text: how save_as_text_file writes a record (strings as they are, numbers in decimal,
/// pairs and tuples as Spark prints Scala tuples: "(a,b)").

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace ember::scheduler {

template <class T>
void append_text(std::string& out, const T& v);

template <class A, class B>
void append_text(std::string& out, const std::pair<A, B>& p) {
    out += '(';
    append_text(out, p.first);
    out += ',';
    append_text(out, p.second);
    out += ')';
}

template <class... Ts>
void append_text(std::string& out, const std::tuple<Ts...>& t) {
    out += '(';
    bool first = true;
    std::apply([&](const auto&... xs) { ((out += (first ? "" : ","), first = false, append_text(out, xs)), ...); }, t);
    out += ')';
}

template <class T>
void append_text(std::string& out, const T& v) {
    if constexpr (std::is_convertible_v<const T&, std::string_view>) {
        out += std::string_view(v);
    } else {
        fmt::format_to(std::back_inserter(out), "{}", v);
    }
}

}  // namespace ember::scheduler
