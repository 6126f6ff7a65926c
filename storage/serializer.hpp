// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Binary encoding of records and task parameters: Encoder, Decoder and the Serde<T> trait
/// (the role of Spark's Serializer / SerializerInstance, specialised at compile time).
///
/// Built in: bool, integers (zigzag varints), float, double, std::string (length + bytes),
/// std::pair, std::tuple, std::vector, std::array, std::optional, std::map,
/// std::unordered_map. User structs opt in with EMBER_SERDE(field...) (also in a struct local
/// to a function) or a `template <class Ar> void serde(Ar& ar)` member that calls `ar(field...)`.

#include <algorithm>
#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ember {

/// Thrown when bytes do not decode as the expected type (truncated or corrupt input).
class DecodeError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The DecodeError of input that ends before the value does: the value may be whole once more
/// bytes arrive (readers of a stream decoded in chunks retry it then; see
/// shuffle::read_records).
class TruncatedInput : public DecodeError {
public:
    using DecodeError::DecodeError;
};

template <class T, class Enable = void>
struct Serde;  // specialised below; a missing specialisation is a compile error naming T
template <class T, class Enable = void>
struct SerdeSkip;  // Decoder::skip: defined below, after the Serde specialisations

/// Copies `n` bytes from `from` to `to` (ranges that do not overlap), as std::memcpy. Lengths of 4
/// to 16 bytes (most words and keys) are two overlapping fixed-size copies, which the compiler
/// inlines, instead of a call into the C library's memcpy per key.
inline void copy_bytes(char* to, const char* from, std::size_t n) noexcept {
    if (n >= 8 && n <= 16) {
        std::memcpy(to, from, 8);
        std::memcpy(to + n - 8, from + n - 8, 8);
    } else if (n >= 4 && n < 8) {
        std::memcpy(to, from, 4);
        std::memcpy(to + n - 4, from + n - 4, 4);
    } else if (n > 0) {
        std::memcpy(to, from, n);
    }
}

/// Appends encoded values to a growable byte buffer.
/// Values are written straight into the buffer's spare room (zero-filled a little ahead of the
/// writes), not appended through std::string::append per value: a varint costs a bounds check
/// and its bytes (callgrind: parallelize's slices of (int, int) pairs, 125 instructions per pair
/// encoded through append, 81 this way). bytes() and take() trim the buffer to what was written.
/// Threading: single-threaded, const members included (bytes() trims the buffer).
class Encoder {
public:
    Encoder() = default;
    explicit Encoder(std::size_t reserve) { buf_.reserve(reserve); }
    Encoder(const Encoder&) = default;
    Encoder& operator=(const Encoder&) = default;
    /// The moved-from encoder is empty.
    Encoder(Encoder&& o) noexcept : buf_(std::move(o.buf_)), len_(std::exchange(o.len_, 0)) { o.buf_.clear(); }
    Encoder& operator=(Encoder&& o) noexcept {
        buf_ = std::move(o.buf_);
        len_ = std::exchange(o.len_, 0);
        o.buf_.clear();
        return *this;
    }

    void put_u8(std::uint8_t v) {
        *room(1) = static_cast<char>(v);
        ++len_;
    }
    void put_varint(std::uint64_t v) {
        char* const start = room(10);
        char* p = start;
        while (v >= 0x80) {
            *p++ = static_cast<char>(v | 0x80);
            v >>= 7;
        }
        *p++ = static_cast<char>(v);
        len_ += static_cast<std::size_t>(p - start);
    }
    void put_svarint(std::int64_t v) {
        put_varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
    }
    template <class T>
        requires std::is_trivially_copyable_v<T>
    void put_raw(const T& v) {
        std::memcpy(room(sizeof(T)), &v, sizeof(T));
        len_ += sizeof(T);
    }
    void put_bytes(std::string_view s) {
        put_varint(s.size());
        append(s);
    }
    void append(std::string_view raw) {
        if (raw.empty()) return;
        copy_bytes(room(raw.size()), raw.data(), raw.size());
        len_ += raw.size();
    }

    template <class T>
    void write(const T& v) {
        Serde<T>::write(*this, v);
    }
    /// Archive form for EMBER_SERDE: writes each argument in order.
    template <class... Ts>
    void operator()(const Ts&... vs) {
        (write(vs), ...);
    }

    std::size_t size() const noexcept { return len_; }
    /// Bytes allocated (what the buffer costs in memory).
    std::size_t capacity() const noexcept { return buf_.capacity(); }
    /// Allocates room for `n` bytes in all (std::string::reserve: what was written is kept, and
    /// nothing is zero-filled). Throws std::bad_alloc.
    void reserve(std::size_t n) { buf_.reserve(n); }
    /// What was written. The reference stays valid until the next write, take() or clear().
    const std::string& bytes() const noexcept {
        buf_.resize(len_);  // drops the spare room; never allocates
        return buf_;
    }
    std::string take() noexcept {
        buf_.resize(len_);
        std::string out = std::move(buf_);
        buf_.clear();
        len_ = 0;
        return out;
    }
    /// Forgets what was written; keeps the buffer for the next values.
    void clear() noexcept { len_ = 0; }

    static constexpr bool is_encoder = true;

private:
    /// Where the next `n` bytes go: at least `n` bytes of room past what was written. The room
    /// added is what was written (64 bytes at least, 4 KiB at most: zero-filling more would touch
    /// memory no value needs yet), so a small encoder ends at most twice its size, as append's
    /// growth does, and a large one's capacity still grows geometrically (std::string::resize).
    char* room(std::size_t n) {
        if (buf_.size() - len_ < n) buf_.resize(len_ + std::max(n, std::clamp(len_, std::size_t{64}, std::size_t{4096})));
        return buf_.data() + len_;
    }

    mutable std::string buf_;  // [0, len_) written, the rest spare room (bytes() trims it)
    std::size_t len_ = 0;
};

/// Reads values back from a byte range; throws TruncatedInput when the range ends inside a value
/// and DecodeError on malformed input.
/// Threading: single-threaded.
class Decoder {
public:
    Decoder(const void* data, std::size_t size)
        : p_(static_cast<const char*>(data)), end_(p_ + size) {}
    explicit Decoder(std::string_view s) : Decoder(s.data(), s.size()) {}

    bool done() const noexcept { return p_ == end_; }
    std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }

    std::uint8_t get_u8() {
        need(1);
        return static_cast<std::uint8_t>(*p_++);
    }
    /// Throws TruncatedInput if the input ends inside the varint, DecodeError past 10 bytes.
    std::uint64_t get_varint() {
        if (p_ != end_ && static_cast<std::uint8_t>(*p_) < 0x80) return static_cast<std::uint8_t>(*p_++);  // one byte
        if (end_ - p_ >= 10) {
            // Room for the longest varint: no bounds check per byte.
            const auto* p = reinterpret_cast<const std::uint8_t*>(p_);
            std::uint64_t v = 0;
            for (int i = 0; i < 10; ++i) {
                v |= std::uint64_t{p[i] & 0x7fu} << (7 * i);
                if (p[i] < 0x80) {
                    p_ += i + 1;
                    return v;
                }
            }
            throw DecodeError("varint longer than 10 bytes");
        }
        return get_varint_near_end();
    }
    std::int64_t get_svarint() {
        std::uint64_t u = get_varint();
        return static_cast<std::int64_t>((u >> 1) ^ (~(u & 1) + 1));
    }
    template <class T>
        requires std::is_trivially_copyable_v<T>
    T get_raw() {
        need(sizeof(T));
        T v;
        std::memcpy(&v, p_, sizeof(T));
        p_ += sizeof(T);
        return v;
    }
    /// Advances past `n` varints without decoding them, eight bytes at a time where it can (a
    /// varint ends at each byte below 0x80). Unlike get_varint it does not check a varint's
    /// length; throws TruncatedInput if the input ends first.
    void skip_varints(std::uint64_t n) {
        const char* p = p_;
        while (n >= 8 && end_ - p >= 8) {
            std::uint64_t w;
            std::memcpy(&w, p, 8);
            auto ends = static_cast<std::uint64_t>(std::popcount(~w & 0x8080808080808080ull));
            if (ends >= n) break;  // the n-th varint ends in this word: find where, byte by byte
            n -= ends;
            p += 8;
        }
        for (; n > 0; ++p) {
            if (p == end_) throw TruncatedInput("input ends in the middle of a value (truncated or corrupt data)");
            n -= static_cast<std::uint8_t>(*p) < 0x80 ? 1 : 0;
        }
        p_ = p;
    }
    /// A length-prefixed byte string, as a view into the input.
    std::string_view get_bytes() {
        std::uint64_t n = get_varint();
        need(n);
        std::string_view s(p_, static_cast<std::size_t>(n));
        p_ += n;
        return s;
    }

    template <class T>
    T read() {
        return Serde<T>::read(*this);
    }
    template <class T>
    void read_into(T& v) {
        v = Serde<T>::read(*this);
    }
    /// Advances past one encoded T without building it where T's encoding allows: integers,
    /// bool, floating point, enums, strings, and pairs, tuples and vectors of these are walked
    /// over (no allocation); other types are decoded and dropped. Throws TruncatedInput if the
    /// input ends inside the value; does not check the length of a skipped varint (at most 10
    /// bytes for read<T>()).
    template <class T>
    void skip() {
        SerdeSkip<T>::skip(*this);
    }
    /// Archive form for EMBER_SERDE: reads each argument in order.
    template <class... Ts>
    void operator()(Ts&... vs) {
        (read_into(vs), ...);
    }

    static constexpr bool is_encoder = false;

private:
    /// get_varint within 10 bytes of the end: checks each byte.
    [[gnu::noinline]] std::uint64_t get_varint_near_end() {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            need(1);
            auto b = static_cast<std::uint8_t>(*p_++);
            v |= std::uint64_t{b & 0x7fu} << shift;
            if (!(b & 0x80)) return v;
        }
        throw DecodeError("varint longer than 10 bytes");
    }
    void need(std::uint64_t n) const {
        if (static_cast<std::uint64_t>(end_ - p_) < n) {
            throw TruncatedInput("input ends in the middle of a value (truncated or corrupt data)");
        }
    }
    const char* p_;
    const char* end_;
};

// -- built-in types ------------------------------------------------------------------------------

template <>
struct Serde<bool> {
    static void write(Encoder& e, bool v) { e.put_u8(v ? 1 : 0); }
    static bool read(Decoder& d) { return d.get_u8() != 0; }
};

template <class T>
struct Serde<T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>> {
    static void write(Encoder& e, T v) {
        if constexpr (std::is_signed_v<T>) {
            e.put_svarint(static_cast<std::int64_t>(v));
        } else {
            e.put_varint(static_cast<std::uint64_t>(v));
        }
    }
    static T read(Decoder& d) {
        if constexpr (std::is_signed_v<T>) {
            return static_cast<T>(d.get_svarint());
        } else {
            return static_cast<T>(d.get_varint());
        }
    }
};

template <class T>
struct Serde<T, std::enable_if_t<std::is_floating_point_v<T> || std::is_enum_v<T>>> {
    static void write(Encoder& e, T v) { e.put_raw(v); }
    static T read(Decoder& d) { return d.get_raw<T>(); }
};

template <>
struct Serde<std::string> {
    static void write(Encoder& e, const std::string& v) { e.put_bytes(v); }
    static std::string read(Decoder& d) { return std::string(d.get_bytes()); }
};

template <class A, class B>
struct Serde<std::pair<A, B>> {
    static void write(Encoder& e, const std::pair<A, B>& v) {
        Serde<std::remove_const_t<A>>::write(e, v.first);
        Serde<B>::write(e, v.second);
    }
    static std::pair<A, B> read(Decoder& d) {
        auto a = Serde<std::remove_const_t<A>>::read(d);
        auto b = Serde<B>::read(d);
        return {std::move(a), std::move(b)};
    }
};

template <class... Ts>
struct Serde<std::tuple<Ts...>> {
    static void write(Encoder& e, const std::tuple<Ts...>& v) {
        std::apply([&](const auto&... xs) { (e.write(xs), ...); }, v);
    }
    static std::tuple<Ts...> read(Decoder& d) { return std::tuple<Ts...>{d.read<Ts>()...}; }
};

template <class T, class A>
struct Serde<std::vector<T, A>> {
    static void write(Encoder& e, const std::vector<T, A>& v) {
        e.put_varint(v.size());
        for (const auto& x : v) Serde<T>::write(e, x);
    }
    static std::vector<T, A> read(Decoder& d) {
        std::uint64_t n = d.get_varint();
        if (n > d.remaining()) throw TruncatedInput("vector length exceeds the input");
        std::vector<T, A> v;
        v.reserve(static_cast<std::size_t>(n));
        for (std::uint64_t i = 0; i < n; ++i) v.push_back(Serde<T>::read(d));
        return v;
    }
};

template <class T, std::size_t N>
struct Serde<std::array<T, N>> {
    static void write(Encoder& e, const std::array<T, N>& v) {
        for (const auto& x : v) Serde<T>::write(e, x);
    }
    static std::array<T, N> read(Decoder& d) {
        std::array<T, N> v{};
        for (auto& x : v) x = Serde<T>::read(d);
        return v;
    }
};

template <class T>
struct Serde<std::optional<T>> {
    static void write(Encoder& e, const std::optional<T>& v) {
        e.put_u8(v ? 1 : 0);
        if (v) Serde<T>::write(e, *v);
    }
    static std::optional<T> read(Decoder& d) {
        if (d.get_u8() == 0) return std::nullopt;
        return Serde<T>::read(d);
    }
};

template <class Map>
struct MapSerde {
    using K = typename Map::key_type;
    using V = typename Map::mapped_type;
    static void write(Encoder& e, const Map& m) {
        e.put_varint(m.size());
        for (const auto& [k, v] : m) {
            Serde<K>::write(e, k);
            Serde<V>::write(e, v);
        }
    }
    static Map read(Decoder& d) {
        std::uint64_t n = d.get_varint();
        if (n > d.remaining()) throw TruncatedInput("map size exceeds the input");
        Map m;
        for (std::uint64_t i = 0; i < n; ++i) {
            auto k = Serde<K>::read(d);
            m.emplace(std::move(k), Serde<V>::read(d));
        }
        return m;
    }
};
template <class K, class V, class C, class A>
struct Serde<std::map<K, V, C, A>> : MapSerde<std::map<K, V, C, A>> {};
template <class K, class V, class H, class E, class A>
struct Serde<std::unordered_map<K, V, H, E, A>> : MapSerde<std::unordered_map<K, V, H, E, A>> {};

/// User types with a serde(Encoder&) member: EMBER_SERDE's, or a `template <class Ar> void
/// serde(Ar&)` of their own.
template <class T>
concept HasSerdeMember = requires(T& t, Encoder& e) { t.serde(e); };

template <class T>
struct Serde<T, std::enable_if_t<HasSerdeMember<T>>> {
    static void write(Encoder& e, const T& v) { const_cast<T&>(v).serde(e); }
    static T read(Decoder& d) {
        T v{};
        v.serde(d);
        return v;
    }
};

/// How Decoder::skip<T> advances past an encoded T: by default it decodes one and drops it;
/// the specialisations below walk the encoding without building anything.
template <class T, class Enable>
struct SerdeSkip {
    static void skip(Decoder& d) { (void)Serde<T>::read(d); }
};
template <class T>
struct SerdeSkip<T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>> {
    static void skip(Decoder& d) { d.skip_varints(1); }
};
template <class T>
struct SerdeSkip<T, std::enable_if_t<std::is_floating_point_v<T> || std::is_enum_v<T> || std::is_same_v<T, bool>>> {
    static void skip(Decoder& d) { (void)Serde<T>::read(d); }  // fixed width: nothing to allocate
};
template <>
struct SerdeSkip<std::string> {
    static void skip(Decoder& d) { (void)d.get_bytes(); }
};
template <class A, class B>
struct SerdeSkip<std::pair<A, B>> {
    static void skip(Decoder& d) {
        d.skip<std::remove_const_t<A>>();
        d.skip<B>();
    }
};
template <class... Ts>
struct SerdeSkip<std::tuple<Ts...>> {
    static void skip(Decoder& d) { (d.skip<Ts>(), ...); }
};
template <class T, class A>
struct SerdeSkip<std::vector<T, A>> {
    static void skip(Decoder& d) {
        std::uint64_t n = d.get_varint();
        if (n > d.remaining()) throw TruncatedInput("vector length exceeds the input");
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
            d.skip_varints(n);
        } else {
            for (std::uint64_t i = 0; i < n; ++i) d.skip<T>();
        }
    }
};

/// True if T can be written and read with Serde.
template <class T>
concept Serializable = requires(Encoder& e, Decoder& d, const T& v) {
    Serde<T>::write(e, v);
    { Serde<T>::read(d) } -> std::convertible_to<T>;
};

/// Encodes one value into a fresh byte string.
template <class T>
std::string encode(const T& v) {
    Encoder e;
    e.write(v);
    return e.take();
}
/// Decodes one value that must fill `bytes` exactly.
template <class T>
T decode(std::string_view bytes) {
    Decoder d(bytes);
    T v = d.read<T>();
    if (!d.done()) throw DecodeError("trailing bytes after a value");
    return v;
}

}  // namespace ember

/// Declares a struct's serialised fields, in order: `struct P { int x; std::string n; EMBER_SERDE(x, n) };`
/// It declares two plain (non-template) member functions, serde(Encoder&) and serde(Decoder&),
/// so it also works in a struct local to a function (a local class cannot have member
/// templates). The fields' types need their Serde where the struct is defined.
#define EMBER_SERDE(...)                                     \
    void serde(::ember::Encoder& ar__) { ar__(__VA_ARGS__); } \
    void serde(::ember::Decoder& ar__) { ar__(__VA_ARGS__); }
