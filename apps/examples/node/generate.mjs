#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// Compiles the ember schemas this example uses into JavaScript (capnp-es's capnpc-js plugin for
// the `capnp` compiler; Debian: apt-get install capnproto), under ./schemas/ with the schemas'
// own layout: schemas/rpc/rpc_envelope.js, schemas/apps/examples/ping_pong/ping_pong.js.
//
//     node generate.mjs [SCHEMA_ROOT]
//
// SCHEMA_ROOT holds rpc/rpc_envelope.capnp and apps/examples/ping_pong/ping_pong.capnp: ember's
// source tree (the default, ../../.. from here) or an installed ember's schema directory,
// `pkg-config --variable=schemadir ember` (share/ember/schemas).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(process.argv[2] ?? path.join(here, "..", "..", ".."));
const schemas = ["rpc/rpc_envelope.capnp", "apps/examples/ping_pong/ping_pong.capnp"];
const plugin = path.join(here, "node_modules", ".bin", "capnpc-js");

for (const s of schemas) {
    if (!existsSync(path.join(root, s))) {
        console.error(`generate.mjs: ${path.join(root, s)} not found; pass ember's source tree or schema directory`);
        process.exit(2);
    }
}
if (!existsSync(plugin)) {
    console.error(`generate.mjs: ${plugin} not found; run \`npm install\` in ${here} first`);
    process.exit(2);
}
const out = path.join(here, "schemas");
mkdirSync(out, { recursive: true });
try {
    // -I: schemas that import ember's (`import "/rpc/rpc_envelope.capnp"`) find them there.
    execFileSync("capnp", ["compile", `-I${root}`, `--src-prefix=${root}`, `-o${plugin}:${out}`,
                           ...schemas.map((s) => path.join(root, s))], { stdio: ["ignore", "ignore", "inherit"] });
} catch (e) {
    console.error(`generate.mjs: capnp compile failed: ${e.message}` +
                  (e.code === "ENOENT" ? " (install the capnp compiler: apt-get install capnproto)" : ""));
    process.exit(1);
}
console.log(`generated ${schemas.map((s) => path.join("schemas", s.replace(/\.capnp$/, ".js"))).join(", ")}`);
