// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// The web UI's static files (Spark's web UI pages as a small single-page app: index.html,
/// ember-ui.js, ember-ui.css), compiled into the library.
///
/// scheduler/ui/static/ holds the sources; the build (scheduler/ui/embed_assets.py) turns them
/// into ui_assets.cpp, so the driver and the History Server serve them with no files installed.
/// The pages draw themselves in the browser from the REST API (/api/v1, Spark's JSON): the server
/// answers every page path (/jobs/, /jobs/job/?id=N, /stages/, /stages/stage/?id=N&attempt=M,
/// /storage/, /storage/rdd/?id=N, /environment/, /executors/, and the same under
/// /history/<appId>/ in the History Server) with ui_index_html(), and /static/<name> with
/// find_ui_asset().
///
/// Threading: the data is immutable and static; every function is thread-safe.

#include <string_view>

namespace ember::ui {

/// One embedded file: its HTTP Content-Type (e.g. "text/javascript; charset=utf-8") and bytes.
/// Both views point into static storage, valid for the whole run.
struct UiAsset {
    std::string_view content_type;
    std::string_view body;
};

/// The asset served at `path` ("/static/ember-ui.js", "/static/ember-ui.css",
/// "/static/index.html"), or nullptr if there is none. An exact match: no query string, no
/// "..", no decoding.
const UiAsset* find_ui_asset(std::string_view path);

/// index.html (text/html; charset=utf-8), the answer to every UI page path.
std::string_view ui_index_html();

}  // namespace ember::ui
