// SPDX-License-Identifier: Apache-2.0
// Serde: round trips of every built-in type and user structs; corrupt input is an error.
#include "storage/serializer.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <map>

using namespace ember;

namespace {
struct Point {
    int x = 0;
    std::string label;
    std::vector<double> weights;
    EMBER_SERDE(x, label, weights)
    friend bool operator==(const Point&, const Point&) = default;
};
}  // namespace

TEST_CASE("Built-in types survive an encode/decode round trip", "[storage][serde]") {
    CHECK(decode<int>(encode(-123456)) == -123456);
    CHECK(decode<std::int64_t>(encode(std::numeric_limits<std::int64_t>::min())) == std::numeric_limits<std::int64_t>::min());
    CHECK(decode<std::uint64_t>(encode(std::numeric_limits<std::uint64_t>::max())) == std::numeric_limits<std::uint64_t>::max());
    CHECK(decode<double>(encode(3.25)) == 3.25);
    CHECK(decode<bool>(encode(true)));
    std::string bytes("a\0b\xff", 4);
    CHECK(decode<std::string>(encode(bytes)) == bytes);
    using Nested = std::vector<std::pair<std::string, std::optional<std::tuple<int, float>>>>;
    Nested n{{"x", std::nullopt}, {"", std::tuple<int, float>{7, 1.5f}}};
    CHECK(decode<Nested>(encode(n)) == n);
    std::map<std::string, std::uint64_t> m{{"a", 1}, {"b", 2}};
    CHECK(decode<decltype(m)>(encode(m)) == m);
    std::array<int, 3> arr{1, -2, 3};
    CHECK(decode<decltype(arr)>(encode(arr)) == arr);
}

TEST_CASE("User structs opt in with EMBER_SERDE", "[storage][serde]") {
    Point p{42, "answer", {0.5, 2.0}};
    CHECK(decode<Point>(encode(p)) == p);
    CHECK(Serializable<Point>);
}

TEST_CASE("Small integers take one byte", "[storage][serde]") {
    CHECK(encode(std::uint64_t{5}).size() == 1);
    CHECK(encode(-1).size() == 1);  // zigzag
    CHECK(encode(std::uint64_t{300}).size() == 2);
}

TEST_CASE("Truncated or trailing input is a DecodeError", "[storage][serde]") {
    std::string s = encode(std::string("hello world"));
    for (std::size_t cut = 0; cut < s.size(); ++cut) {
        CHECK_THROWS_AS(decode<std::string>(s.substr(0, cut)), DecodeError);
    }
    CHECK_THROWS_AS(decode<int>(encode(1) + "x"), DecodeError);
    // A length far beyond the input must not allocate it.
    Encoder e;
    e.put_varint(1ull << 60);
    CHECK_THROWS_AS(decode<std::vector<int>>(e.bytes()), DecodeError);
    CHECK_THROWS_AS(decode<std::string>(e.bytes()), DecodeError);
    std::string bad_varint(11, '\xff');
    CHECK_THROWS_AS(decode<std::uint64_t>(bad_varint), DecodeError);
}
