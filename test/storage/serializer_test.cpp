// SPDX-License-Identifier: Apache-2.0
// Serde: round trips of every built-in type and user structs; corrupt input is an error.
// SizeTracker: the estimated memory of records kept as objects.
#include "storage/serializer.hpp"
#include "storage/size_estimator.hpp"

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

TEST_CASE("An Encoder's bytes are exactly what was written, across growth, reuse and moves", "[storage][serde]") {
    // The oracle: the same values appended to a std::string by hand (LEB128 varints).
    auto varint = [](std::string& out, std::uint64_t v) {
        while (v >= 0x80) {
            out.push_back(static_cast<char>(v | 0x80));
            v >>= 7;
        }
        out.push_back(static_cast<char>(v));
    };
    Encoder e(7);  // a reservation smaller than one varint's room
    std::string expect;
    for (std::uint64_t i = 0; i < 5000; ++i) {
        std::uint64_t v = i * i * i * 2654435761u;  // one to ten bytes
        e.put_varint(v);
        varint(expect, v);
        if (i % 97 == 0) {
            std::string s(i % 300, static_cast<char>('a' + i % 26));
            e.put_bytes(s);
            varint(expect, s.size());
            expect += s;
        }
        if (i % 1000 == 0) CHECK(e.bytes() == expect);  // trimming mid-way, then writing on
        e.put_u8(static_cast<std::uint8_t>(i));
        expect.push_back(static_cast<char>(i));
    }
    CHECK(e.size() == expect.size());
    CHECK(e.capacity() >= expect.size());
    CHECK(e.bytes() == expect);

    e.clear();  // reuse: only the new values
    CHECK(e.size() == 0);
    e.put_raw(1.5);
    CHECK(e.bytes() == encode(1.5));

    Encoder moved(std::move(e));
    CHECK(moved.bytes() == encode(1.5));
    CHECK(e.size() == 0);  // NOLINT(bugprone-use-after-move): the moved-from encoder is empty
    e.put_u8(9);
    CHECK(e.bytes() == std::string(1, '\x09'));
    std::string taken = moved.take();
    CHECK(taken == encode(1.5));
    CHECK(moved.size() == 0);
    moved.append("xy");
    CHECK(moved.bytes() == "xy");

    // Byte strings of every short length (append copies 4 to 16 bytes in two overlapping
    // pieces), each byte distinct, at every alignment of the buffer.
    Encoder strings;
    std::string expect_strings;
    for (std::size_t n = 0; n <= 40; ++n) {
        for (std::size_t skew = 0; skew < 3; ++skew) {
            std::string s;
            for (std::size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(n * 7 + i * 13 + skew));
            strings.put_bytes(s);
            varint(expect_strings, s.size());
            expect_strings += s;
        }
    }
    CHECK(strings.bytes() == expect_strings);
}

TEST_CASE("Varints of every length decode exactly, far from the end of the input and near it", "[storage][serde]") {
    // get_varint reads without a bounds check per byte when 10 bytes remain, and checks each byte
    // nearer the end: every length (1 to 10 bytes) on both paths, against the values written.
    std::vector<std::uint64_t> values;
    for (int bits = 0; bits <= 64; ++bits) {
        std::uint64_t top = bits == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
        values.push_back(top);
        values.push_back(top / 3);
    }
    Encoder e;
    for (auto v : values) e.put_varint(v);
    const std::string& bytes = e.bytes();
    Decoder d(bytes);
    for (auto v : values) CHECK(d.get_varint() == v);
    CHECK(d.done());
    for (auto v : values) {
        Encoder one;
        one.put_varint(v);
        Decoder alone(one.bytes());  // at most 10 bytes: the checked path
        CHECK(alone.get_varint() == v);
        CHECK(alone.done());
        for (std::size_t cut = 0; cut < one.size(); ++cut) {
            Decoder cut_short(one.bytes().data(), cut);
            CHECK_THROWS_AS(cut_short.get_varint(), TruncatedInput);
        }
    }
    // Eleven bytes with the high bit set: too long on the unchecked path, and nine near the end
    // are truncated.
    CHECK_THROWS_WITH(Decoder(std::string(11, '\xff')).get_varint(), "varint longer than 10 bytes");
    CHECK_THROWS_WITH(Decoder(std::string(10, '\xff') + "x").get_varint(), "varint longer than 10 bytes");
    CHECK_THROWS_AS(Decoder(std::string(9, '\xff')).get_varint(), TruncatedInput);
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

namespace {
/// Encodes `skipped` then a sentinel; skip<T>() must land exactly on the sentinel.
template <class T>
void check_skip_lands_after(const T& skipped) {
    Encoder e;
    e.write(skipped);
    e.write(std::string("sentinel"));
    Decoder d(e.bytes());
    d.skip<T>();
    CHECK(d.read<std::string>() == "sentinel");
    CHECK(d.done());
}
}  // namespace

TEST_CASE("skip steps over one value of each type without decoding it", "[storage][serde]") {
    check_skip_lands_after(-123456);
    check_skip_lands_after(std::numeric_limits<std::uint64_t>::max());
    check_skip_lands_after(3.25);
    check_skip_lands_after(true);
    check_skip_lands_after(std::string("a\0b\xff", 4));
    check_skip_lands_after(std::pair<int, std::vector<int>>{7, {1, -200, 70000}});
    check_skip_lands_after(std::tuple<int, double, std::string>{1, 2.5, "x"});
    check_skip_lands_after(std::vector<std::pair<std::string, double>>{{"a", 1.0}, {"bc", 2.0}});
    check_skip_lands_after(std::map<std::string, std::uint64_t>{{"a", 1}, {"b", 2}});  // decoded and dropped
    check_skip_lands_after(Point{42, "answer", {0.5, 2.0}});
    // Vectors of integers are skipped eight bytes at a time: varints of every length (1-10
    // bytes) in every position relative to a word, and vectors of every length up to 40.
    std::vector<std::int64_t> mixed;
    for (int i = 0; i < 40; ++i) {
        int bits = (i * 7) % 64;
        mixed.push_back((i % 2 ? -1 : 1) * static_cast<std::int64_t>((std::uint64_t{1} << bits) - 1));
        check_skip_lands_after(mixed);
        check_skip_lands_after(std::vector<std::uint32_t>(static_cast<std::size_t>(i), 0x0fffffffu));
    }
    check_skip_lands_after(std::vector<int>{});
}

TEST_CASE("skip of a truncated value is a DecodeError", "[storage][serde]") {
    std::vector<std::int64_t> v;
    for (int i = 0; i < 30; ++i) v.push_back(std::int64_t{1} << (i * 2));
    std::string s = encode(v);
    for (std::size_t cut = 0; cut < s.size(); ++cut) {
        const std::string prefix = s.substr(0, cut);
        Decoder d(prefix);
        CHECK_THROWS_AS(d.skip<std::vector<std::int64_t>>(), DecodeError);
    }
    const std::string str = encode(std::string("hello world"));
    const std::string cut_str = str.substr(0, str.size() - 1);
    Decoder d(cut_str);
    CHECK_THROWS_AS(d.skip<std::string>(), DecodeError);
}

TEST_CASE("SizeTracker estimates the memory of records kept as objects", "[storage][size]") {
    using storage::heap_block_bytes;
    CHECK(heap_block_bytes(0) == 0);
    CHECK(heap_block_bytes(1) == 32);   // glibc's smallest chunk
    CHECK(heap_block_bytes(24) == 32);  // 24 bytes and the 8-byte header
    CHECK(heap_block_bytes(25) == 48);

    // Known types are walked: a short string lives in the object, a long one on the heap.
    storage::SizeTracker<std::pair<int, std::string>> strings;
    std::vector<std::pair<int, std::string>> rs{{1, "short"}, {2, std::string(100, 'x')}};
    for (auto& r : rs) strings.add(r);
    CHECK(strings.count() == 2);
    CHECK(strings.bytes(rs.capacity()) ==
          heap_block_bytes(rs.capacity() * sizeof(rs[0])) + heap_block_bytes(rs[1].second.capacity() + 1));

    storage::SizeTracker<std::pair<int, std::vector<int>>> links;
    std::vector<int> out(10, 7);
    links.add({1, out});
    CHECK(links.bytes(1) == heap_block_bytes(sizeof(std::pair<int, std::vector<int>>)) + heap_block_bytes(40));

    // Other types are sampled by their encoded size (x 1 byte, label and weights with lengths).
    storage::SizeTracker<Point> points;
    const Point p{1, "ab", {1.0, 2.0}};
    for (int i = 0; i < 1000; ++i) points.add(p);
    const std::uint64_t encoded = encode(p).size();
    CHECK(encoded == 1 + 3 + 1 + 16);
    CHECK(points.bytes(1000) == heap_block_bytes(1000 * sizeof(Point)) + 1000 * encoded);
}
