// SPDX-License-Identifier: Apache-2.0
#include "apps/submit/submission.hpp"

#include "scheduler/deploy/redaction.hpp"
#include "scheduler/master_url.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include <unistd.h>

namespace ember::submit {

namespace {

/// An option that takes a value: its spellings and the field it fills.
struct ValueOption {
    std::string_view name;
    std::string_view short_name;
    std::string_view arg;
    std::string_view help;
    std::optional<std::string> SubmitArguments::*field;
};

constexpr ValueOption kValueOptions[] = {
    {"--master", "", "MASTER", "local, local[N], local[*], local-cluster[E,C,M] or cluster[E] (ember.master)",
     &SubmitArguments::master},
    {"--deploy-mode", "", "MODE", "client: the driver runs here (cluster is not supported yet)",
     &SubmitArguments::deploy_mode},
    {"--name", "", "NAME", "the application's name (ember.app.name)", &SubmitArguments::name},
    {"--num-executors", "", "E", "executors a cluster manager starts (ember.executor.instances)",
     &SubmitArguments::num_executors},
    {"--executor-cores", "", "C", "cores per executor (ember.executor.cores)", &SubmitArguments::executor_cores},
    {"--executor-memory", "", "SIZE", "memory per executor, e.g. 4g (ember.executor.memory)",
     &SubmitArguments::executor_memory},
    {"--driver-memory", "", "SIZE", "the driver's memory, e.g. 1g (ember.driver.memory)",
     &SubmitArguments::driver_memory},
    {"--properties-file", "", "FILE", "read this instead of conf/ember-defaults.conf",
     &SubmitArguments::properties_file},
};

/// The dedicated options and the keys they set, in the order they are applied.
struct KeyOption {
    std::string_view option;
    std::string_view key;
    std::optional<std::string> SubmitArguments::*field;
};

constexpr KeyOption kKeyOptions[] = {
    {"--master", "ember.master", &SubmitArguments::master},
    {"--deploy-mode", "ember.submit.deployMode", &SubmitArguments::deploy_mode},
    {"--name", "ember.app.name", &SubmitArguments::name},
    {"--num-executors", "ember.executor.instances", &SubmitArguments::num_executors},
    {"--executor-cores", "ember.executor.cores", &SubmitArguments::executor_cores},
    {"--executor-memory", "ember.executor.memory", &SubmitArguments::executor_memory},
    {"--driver-memory", "ember.driver.memory", &SubmitArguments::driver_memory},
};

std::string_view trim(std::string_view s) {
    const char* ws = " \t\f\r\n";
    auto b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) return {};
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\f'; }

/// java.util.Properties' escapes in `s` (a key or a value); the trailing continuation
/// backslashes are already gone.
std::string unescape(std::string_view s, const std::filesystem::path& path, int line_no) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\' || i + 1 == s.size()) {
            out += s[i];
            continue;
        }
        char c = s[++i];
        switch (c) {
            case 't': out += '\t'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 'f': out += '\f'; break;
            case 'u': {
                unsigned cp = 0;
                auto hex = s.substr(i + 1, 4);
                auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), cp, 16);
                if (hex.size() != 4 || ec != std::errc{} || p != hex.data() + 4) {
                    throw SubmitError(fmt::format("{}:{}: malformed \\uXXXX escape", path.string(), line_no));
                }
                i += 4;
                if (cp < 0x80) {
                    out += static_cast<char>(cp);
                } else if (cp < 0x800) {
                    out += static_cast<char>(0xC0 | (cp >> 6));
                    out += static_cast<char>(0x80 | (cp & 0x3F));
                } else {
                    out += static_cast<char>(0xE0 | (cp >> 12));
                    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
                    out += static_cast<char>(0x80 | (cp & 0x3F));
                }
                break;
            }
            default: out += c;
        }
    }
    return out;
}

bool ends_in_odd_backslashes(std::string_view s) {
    std::size_t n = 0;
    while (n < s.size() && s[s.size() - 1 - n] == '\\') ++n;
    return n % 2 == 1;
}

[[noreturn]] void invalid(const Setting& s, std::string_view key, std::string_view option, std::string_view why) {
    // Name what the user typed: the option, or the key and the place it came from.
    if (s.source == option) throw SubmitError(fmt::format("{}: {}", option, why));
    throw SubmitError(fmt::format("{} (from {}): {}", key, s.source, why));
}

std::string_view option_of(std::string_view key) {
    for (auto& o : kKeyOptions) {
        if (o.key == key) return o.option;
    }
    return {};
}

void check_positive_int(const Resolved& r, std::string_view key) {
    auto it = r.settings.find(std::string(key));
    if (it == r.settings.end()) return;
    std::string_view v = it->second.value;
    long long n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc{} || p != v.data() + v.size() || n <= 0 || n > 1'000'000) {
        invalid(it->second, key, option_of(key), fmt::format("'{}' is not a positive integer", v));
    }
}

void check_memory(const Resolved& r, std::string_view key) {
    auto it = r.settings.find(std::string(key));
    if (it == r.settings.end()) return;
    try {
        if (Conf::parse_size_bytes(it->second.value, "m") <= 0) {
            invalid(it->second, key, option_of(key), fmt::format("'{}' is not a positive size", it->second.value));
        }
    } catch (const std::invalid_argument& e) {
        invalid(it->second, key, option_of(key), e.what());
    }
}

}  // namespace

SubmitArguments SubmitArguments::parse(const std::vector<std::string>& args) {
    SubmitArguments a;
    std::size_t i = 0;
    for (; i < args.size(); ++i) {
        std::string_view arg = args[i];
        if (arg.empty() || arg[0] != '-' || arg == "-") break;  // APP
        auto eq = arg.find('=');
        std::string_view name = arg.starts_with("--") ? arg.substr(0, eq) : arg;
        std::optional<std::string_view> inline_value;
        if (arg.starts_with("--") && eq != std::string_view::npos) inline_value = arg.substr(eq + 1);
        auto value = [&]() -> std::string {
            if (inline_value) return std::string(*inline_value);
            if (i + 1 >= args.size()) throw SubmitError(fmt::format("{} expects a value", name));
            return args[++i];
        };
        auto flag = [&](bool& field) {
            if (inline_value) throw SubmitError(fmt::format("{} takes no value", name));
            field = true;
        };
        if (name == "--help" || name == "-h") {
            flag(a.help);
            return a;
        }
        if (name == "--version") {
            flag(a.version);
            return a;
        }
        if (name == "--verbose" || name == "-v") {
            flag(a.verbose);
            continue;
        }
        if (name == "--conf" || name == "-c") {
            a.confs.push_back(value());
            continue;
        }
        bool known = false;
        for (auto& o : kValueOptions) {
            if (name == o.name) {
                a.*o.field = value();
                known = true;
                break;
            }
        }
        if (!known) throw SubmitError(fmt::format("unknown option '{}' (ember-submit --help lists the options)", name));
    }
    if (i == args.size()) {
        throw SubmitError("no application given: ember-submit [OPTION]... APP [APP ARGUMENT]... (--help lists the options)");
    }
    a.app = args[i];
    a.app_args.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
    return a;
}

std::string usage() {
    std::string out =
        "Usage: ember-submit [OPTION]... APP [APP ARGUMENT]...\n"
        "Runs the ember application APP (an executable built with ember::run) as the driver, with the\n"
        "configuration resolved from conf/ember-defaults.conf (or --properties-file), --conf and the\n"
        "options below; values the application sets in code win over all of them.\n\n"
        "Options:\n";
    auto line = [&out](std::string spelled, std::string_view help) {
        out += fmt::format("  {:<26} {}\n", spelled, help);
    };
    for (auto& o : kValueOptions) line(fmt::format("{} {}", o.name, o.arg), o.help);
    line("--conf, -c KEY=VALUE", "a configuration entry (repeatable)");
    line("--verbose, -v", "print the resolved configuration and its sources (secrets redacted)");
    line("--help, -h", "print this help");
    line("--version", "print the version");
    out +=
        "\nember-defaults.conf is read from $EMBER_CONF_DIR, else from ../conf next to this program's\n"
        "directory; each line is `KEY VALUE` or `KEY=VALUE`, # starts a comment.\n";
    return out;
}

Conf Resolved::conf() const {
    Conf c;
    for (auto& [k, s] : settings) c.set(k, s.value);
    return c;
}

std::vector<std::pair<std::string, std::string>> read_properties_file(const std::filesystem::path& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        throw SubmitError(fmt::format("cannot read properties file '{}': it is a directory", path.string()));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw SubmitError(fmt::format("cannot read properties file '{}': {}", path.string(), std::strerror(errno)));
    }
    std::vector<std::pair<std::string, std::string>> out;
    std::string raw;
    int line_no = 0;
    while (std::getline(in, raw)) {
        ++line_no;
        int first_line = line_no;
        std::string_view first = raw;
        if (first.ends_with('\r')) first.remove_suffix(1);
        std::string logical(trim(first).empty() ? std::string_view{} : first.substr(first.find_first_not_of(" \t\f")));
        if (logical.empty() || logical[0] == '#' || logical[0] == '!') continue;
        // Continuation lines: drop the backslash, and the next line's leading whitespace.
        while (ends_in_odd_backslashes(logical)) {
            logical.pop_back();
            std::string next;
            if (!std::getline(in, next)) break;
            ++line_no;
            std::string_view n = next;
            if (n.ends_with('\r')) n.remove_suffix(1);
            auto b = n.find_first_not_of(" \t\f");
            logical += b == std::string_view::npos ? std::string_view{} : n.substr(b);
        }
        std::string_view l = logical;
        std::size_t k = 0;
        while (k < l.size() && !is_space(l[k]) && l[k] != '=' && l[k] != ':') k += l[k] == '\\' ? 2 : 1;
        k = std::min(k, l.size());
        std::string_view key = l.substr(0, k);
        std::size_t v = k;
        while (v < l.size() && is_space(l[v])) ++v;
        if (v < l.size() && (l[v] == '=' || l[v] == ':')) ++v;
        std::string value = unescape(l.substr(v), path, first_line);
        out.emplace_back(unescape(key, path, first_line), std::string(trim(value)));
    }
    if (in.bad()) {
        throw SubmitError(fmt::format("cannot read properties file '{}': {}", path.string(), std::strerror(errno)));
    }
    return out;
}

std::filesystem::path defaults_file_path() {
    if (const char* dir = std::getenv("EMBER_CONF_DIR"); dir && *dir) {
        return std::filesystem::path(dir) / "ember-defaults.conf";
    }
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return "conf/ember-defaults.conf";
    return (exe.parent_path().parent_path() / "conf" / "ember-defaults.conf").lexically_normal();
}

Resolved resolve(const SubmitArguments& args, const std::filesystem::path& defaults_path) {
    Resolved r;
    r.defaults_path = defaults_path;
    std::error_code ec;
    if (args.properties_file) {
        r.properties_file = *args.properties_file;
    } else if (std::filesystem::exists(defaults_path, ec)) {
        r.properties_file = defaults_path;
    }
    if (r.properties_file) {
        for (auto& [k, v] : read_properties_file(*r.properties_file)) {
            if (k.empty()) continue;  // a line holding only a separator
            r.settings[k] = {v, r.properties_file->string()};
        }
    }
    for (auto& kv : args.confs) {
        auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) throw SubmitError(fmt::format("--conf expects KEY=VALUE, got '{}'", kv));
        r.settings[kv.substr(0, eq)] = {kv.substr(eq + 1), "--conf"};
    }
    for (auto& o : kKeyOptions) {
        if (auto& v = args.*o.field) r.settings[std::string(o.key)] = {*v, std::string(o.option)};
    }
    if (!r.settings.contains("ember.submit.deployMode")) r.settings["ember.submit.deployMode"] = {"client", "default"};

    if (auto it = r.settings.find("ember.master"); it != r.settings.end()) {
        try {
            (void)scheduler::MasterUrl::parse(it->second.value);
        } catch (const std::invalid_argument& e) {
            invalid(it->second, "ember.master", "--master", e.what());
        }
    }
    auto& mode = r.settings["ember.submit.deployMode"];
    if (mode.value == "cluster") {
        invalid(mode, "ember.submit.deployMode", "--deploy-mode",
                "cluster deploy mode is not supported yet: the driver runs where ember-submit runs (use client)");
    }
    if (mode.value != "client") {
        invalid(mode, "ember.submit.deployMode", "--deploy-mode",
                fmt::format("'{}' is not a deploy mode (use client)", mode.value));
    }
    check_positive_int(r, "ember.executor.instances");
    check_positive_int(r, "ember.executor.cores");
    check_memory(r, "ember.executor.memory");
    check_memory(r, "ember.driver.memory");
    try {
        scheduler::KeyRedactor redactor(r.conf());
    } catch (const std::invalid_argument& e) {
        auto& s = r.settings["ember.redaction.regex"];
        throw SubmitError(fmt::format("{} (from {})", e.what(), s.source));
    }
    return r;
}

std::vector<std::string> describe(const Resolved& resolved, const SubmitArguments& args,
                                  const std::string& app_path) {
    std::vector<std::string> out;
    if (resolved.properties_file) {
        out.push_back(fmt::format("Using properties file: {}", resolved.properties_file->string()));
    } else {
        out.push_back(fmt::format("Using properties file: none ({} does not exist)", resolved.defaults_path.string()));
    }
    std::string joined;
    for (auto& a : args.app_args) joined += (joined.empty() ? "" : " ") + a;
    out.push_back(fmt::format("Application: {}", app_path));
    out.push_back(fmt::format("Application arguments: [{}]", joined));
    out.push_back("Configuration (KEY=VALUE  (source); values the application sets in code win over these):");
    scheduler::KeyRedactor redactor(resolved.conf());
    for (auto& [k, s] : resolved.settings) {
        out.push_back(fmt::format("  {}={}  ({})", k, redactor.shown(k, s.value), s.source));
    }
    return out;
}

std::string find_application(const std::string& app) {
    std::string path = app;
    if (app.find('/') == std::string::npos) {
        path.clear();
        const char* env = std::getenv("PATH");
        std::string_view dirs = env ? env : "/usr/local/bin:/usr/bin:/bin";
        while (path.empty()) {
            auto colon = dirs.find(':');
            std::string_view dir = dirs.substr(0, colon);
            auto candidate = std::filesystem::path(dir.empty() ? "." : dir) / app;
            if (::access(candidate.c_str(), X_OK) == 0 && std::filesystem::is_regular_file(candidate)) {
                path = candidate.string();
            }
            if (colon == std::string_view::npos) break;
            dirs.remove_prefix(colon + 1);
        }
        if (path.empty()) {
            std::error_code ec;
            if (std::filesystem::exists(app, ec)) {
                throw SubmitError(fmt::format("application '{}' not found on PATH (for the file here, write ./{})", app, app));
            }
            throw SubmitError(fmt::format("application '{}' not found on PATH", app));
        }
        return path;
    }
    std::error_code ec;
    auto st = std::filesystem::status(path, ec);
    if (!std::filesystem::exists(st)) throw SubmitError(fmt::format("application '{}' not found", app));
    if (!std::filesystem::is_regular_file(st)) throw SubmitError(fmt::format("application '{}' is not a file", app));
    if (::access(path.c_str(), X_OK) != 0) throw SubmitError(fmt::format("application '{}' is not executable", app));
    return path;
}

}  // namespace ember::submit
