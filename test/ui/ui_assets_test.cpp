// SPDX-License-Identifier: Apache-2.0
// The web UI's embedded files (scheduler/ui/ui_assets.hpp) are byte for byte the sources in
// scheduler/ui/static ($EMBER_UI_STATIC), with the right content types.
#include "scheduler/ui/ui_assets.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace {

std::string read_static(const std::string& name) {
    const char* dir = std::getenv("EMBER_UI_STATIC");
    REQUIRE(dir != nullptr);
    std::ifstream in(std::string(dir) + "/" + name, std::ios::binary);
    REQUIRE(in.good());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

TEST_CASE("every static file is embedded unchanged, with its content type") {
    struct Case {
        const char* name;
        const char* type;
    };
    for (auto c : {Case{"index.html", "text/html; charset=utf-8"}, Case{"ember-ui.js", "text/javascript; charset=utf-8"},
                   Case{"ember-ui.css", "text/css; charset=utf-8"}}) {
        INFO(c.name);
        const ember::ui::UiAsset* a = ember::ui::find_ui_asset(std::string("/static/") + c.name);
        REQUIRE(a != nullptr);
        CHECK(a->content_type == c.type);
        CHECK(a->body == read_static(c.name));
    }
    CHECK(ember::ui::ui_index_html() == read_static("index.html"));
}

TEST_CASE("only exact asset paths are found") {
    for (const char* p : {"", "/", "/static/", "/static/missing.js", "static/ember-ui.js", "/static/ember-ui.js?x=1",
                          "/static/../static/ember-ui.js", "/STATIC/ember-ui.js", "/ember-ui.js"}) {
        INFO(p);
        CHECK(ember::ui::find_ui_asset(p) == nullptr);
    }
}

TEST_CASE("index.html loads the script and the style sheet from /static/") {
    auto html = ember::ui::ui_index_html();
    CHECK(html.find("src=\"/static/ember-ui.js\"") != std::string_view::npos);
    CHECK(html.find("href=\"/static/ember-ui.css\"") != std::string_view::npos);
}
