// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// SourceLocation: std::source_location where the standard library has it, else the same
/// interface on the compiler builtins it is made of. libstdc++ 12 declares std::source_location
/// only for compilers with __builtin_source_location (g++ 11+, clang 15+); Debian 12's clang 14
/// (the fuzz build, test/fuzz.sh) has the older __builtin_FILE / __builtin_LINE family, which
/// also evaluate at the outermost call site when used in a default argument.

#include <cstdint>
#include <version>

#if defined(__cpp_lib_source_location)
#include <source_location>
#endif

namespace ember {

#if defined(__cpp_lib_source_location)
using SourceLocation = std::source_location;
#else
/// Threading: immutable.
class SourceLocation {
public:
    static constexpr SourceLocation current(
        const char* file = __builtin_FILE(), const char* function = __builtin_FUNCTION(),
        std::uint_least32_t line = __builtin_LINE(),
        std::uint_least32_t column = __builtin_COLUMN()) noexcept {
        SourceLocation l;
        l.file_ = file;
        l.function_ = function;
        l.line_ = line;
        l.column_ = column;
        return l;
    }
    constexpr SourceLocation() noexcept = default;
    constexpr const char* file_name() const noexcept { return file_; }
    constexpr const char* function_name() const noexcept { return function_; }
    constexpr std::uint_least32_t line() const noexcept { return line_; }
    constexpr std::uint_least32_t column() const noexcept { return column_; }

private:
    const char* file_ = "";
    const char* function_ = "";
    std::uint_least32_t line_ = 0;
    std::uint_least32_t column_ = 0;
};
#endif

}  // namespace ember
