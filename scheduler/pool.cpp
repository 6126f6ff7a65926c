// SPDX-License-Identifier: Apache-2.0
#include "scheduler/pool.hpp"

#include "rpc/log.hpp"
#include "scheduler/task_set_manager.hpp"

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace ember::scheduler {
namespace {

std::string upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return {};
    auto e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

int non_negative(const std::string& text, const std::string& what) {
    std::size_t used = 0;
    long v = -1;
    try {
        v = std::stol(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != text.size() || v < 0 || v > 1'000'000) {
        throw std::invalid_argument(fmt::format("{} must be a non-negative integer, got '{}'", what, text));
    }
    return static_cast<int>(v);
}

/// Running tasks of the task sets in one pool.
struct Share {
    std::string name;
    int running = 0;
    int min_share = 0;
    int weight = 1;
};

/// Spark's FairSchedulingAlgorithm.comparator: true if `a` goes before `b`.
bool fair_before(const Share& a, const Share& b) {
    bool a_needy = a.running < a.min_share;
    bool b_needy = b.running < b.min_share;
    if (a_needy != b_needy) return a_needy;
    double ra, rb;
    if (a_needy) {
        ra = a.running / static_cast<double>(std::max(a.min_share, 1));
        rb = b.running / static_cast<double>(std::max(b.min_share, 1));
    } else {
        ra = a.running / static_cast<double>(std::max(a.weight, 1));
        rb = b.running / static_cast<double>(std::max(b.weight, 1));
    }
    if (ra != rb) return ra < rb;
    return a.name < b.name;
}

bool fifo_before(const TaskSetManager* a, const TaskSetManager* b) {
    return std::pair(a->task_set().job_id, a->task_set().stage_id) <
           std::pair(b->task_set().job_id, b->task_set().stage_id);
}

}  // namespace

SchedulingMode parse_scheduling_mode(const std::string& text, const std::string& what) {
    auto u = upper(trim(text));
    if (u == "FIFO") return SchedulingMode::fifo;
    if (u == "FAIR") return SchedulingMode::fair;
    throw std::invalid_argument(fmt::format("{}: unsupported scheduling mode '{}' (FIFO or FAIR)", what, text));
}

std::vector<PoolConfig> parse_allocation_file(const std::string& path) {
    namespace pt = boost::property_tree;
    pt::ptree tree;
    try {
        pt::read_xml(path, tree, pt::xml_parser::trim_whitespace);
    } catch (const pt::xml_parser_error& e) {
        throw std::runtime_error(fmt::format("Cannot read the FAIR scheduler allocation file {}: {}", path, e.what()));
    }
    auto root = tree.get_child_optional("allocations");
    if (!root) {
        throw std::runtime_error(fmt::format("FAIR scheduler allocation file {}: no <allocations> element", path));
    }
    std::vector<PoolConfig> out;
    for (const auto& [tag, node] : *root) {
        if (tag != "pool") continue;
        PoolConfig c;
        try {
            c.name = trim(node.get<std::string>("<xmlattr>.name", ""));
            if (c.name.empty()) throw std::invalid_argument("a <pool> has no name attribute");
            std::string what = fmt::format("pool '{}'", c.name);
            if (auto m = node.get_optional<std::string>("schedulingMode")) {
                c.mode = parse_scheduling_mode(*m, what + " schedulingMode");
            }
            if (auto w = node.get_optional<std::string>("weight")) c.weight = non_negative(trim(*w), what + " weight");
            if (auto s = node.get_optional<std::string>("minShare")) {
                c.min_share = non_negative(trim(*s), what + " minShare");
            }
        } catch (const std::invalid_argument& e) {
            throw std::runtime_error(fmt::format("FAIR scheduler allocation file {}: {}", path, e.what()));
        }
        out.push_back(std::move(c));
    }
    return out;
}

Pools::Pools(SchedulingMode mode, std::vector<PoolConfig> configs) : mode_(mode) {
    for (auto& c : configs) {
        log::get("scheduler")->info("Created pool: {}, schedulingMode: {}, minShare: {}, weight: {}", c.name,
                                    c.mode == SchedulingMode::fair ? "FAIR" : "FIFO", c.min_share, c.weight);
        auto name = c.name;
        pools_[name] = std::move(c);
    }
    pool("default");
}

const PoolConfig& Pools::pool(const std::string& name) {
    auto it = pools_.find(name);
    if (it == pools_.end()) {
        it = pools_.emplace(name, PoolConfig{name}).first;
        if (name != "default") {
            log::get("scheduler")->info("Created pool: {} with default settings (FIFO, minShare 0, weight 1)", name);
        }
    }
    return it->second;
}

std::vector<TaskSetManager*> Pools::sort(const std::vector<TaskSetManager*>& all) {
    std::vector<TaskSetManager*> out;
    if (mode_ == SchedulingMode::fifo) {
        for (auto* t : all) {
            if (!t->is_zombie()) out.push_back(t);
        }
        std::sort(out.begin(), out.end(), fifo_before);
        return out;
    }
    std::map<std::string, std::vector<TaskSetManager*>> members;
    std::map<std::string, Share> shares;
    for (auto* t : all) {
        const PoolConfig& c = pool(t->task_set().pool);
        auto& s = shares.try_emplace(c.name, Share{c.name, 0, c.min_share, c.weight}).first->second;
        s.running += static_cast<int>(t->running_tasks());
        if (!t->is_zombie()) members[c.name].push_back(t);
    }
    std::vector<Share> order;
    for (auto& [name, s] : shares) {
        if (members.count(name)) order.push_back(s);
    }
    std::sort(order.begin(), order.end(), fair_before);
    for (const auto& s : order) {
        auto& ts = members[s.name];
        if (pool(s.name).mode == SchedulingMode::fifo) {
            std::sort(ts.begin(), ts.end(), fifo_before);
        } else {
            // Task sets have minShare 0 and weight 1 (Spark).
            std::sort(ts.begin(), ts.end(), [](TaskSetManager* a, TaskSetManager* b) {
                return fair_before(Share{a->name(), static_cast<int>(a->running_tasks()), 0, 1},
                                   Share{b->name(), static_cast<int>(b->running_tasks()), 0, 1});
            });
        }
        out.insert(out.end(), ts.begin(), ts.end());
    }
    return out;
}

}  // namespace ember::scheduler
