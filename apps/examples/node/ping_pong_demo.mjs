#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// The ember-ping-pong client's walk, from Node.js: against `ember-ping-pong server`
// (apps/examples/ping_pong), over ember's wire protocol with ember_client.mjs.
//
//     npm install && node generate.mjs
//     build/apps/ember-ping-pong server --port 7077 &
//     node ping_pong_demo.mjs 127.0.0.1 7077
//
// Looks "pong" up (and a name that does not exist), sends a Note one-way, asks a Ping, then
// shows the failures an ask can end with: endpoint_not_found and unknown_message_type from the
// env, timeout and aborted on this side (each sending a cancel frame to the server), and asks
// one more Ping, on whose arrival the server drops the asks its askers cancelled. Prints one
// line per step; exits 1 if anything differs from what the server is known to do.
import { EmberClient, EmberError } from "./ember_client.mjs";
import { ErrorCode } from "./schemas/rpc/rpc_envelope.js";
import { Note, Ping, Pong, Silence } from "./schemas/apps/examples/ping_pong/ping_pong.js";

const [host, portText] = process.argv.slice(2);
const port = Number(portText);
if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) {
    console.error("usage: node ping_pong_demo.mjs HOST PORT   (of an `ember-ping-pong server`)");
    process.exit(2);
}

/** The EmberError an ask ended with; exits if it succeeded instead. */
async function failureOf(what, promise) {
    try {
        await promise;
    } catch (e) {
        if (e instanceof EmberError) return e;
        throw e;
    }
    console.error(`ping_pong_demo: ${what} succeeded, expected a failure`);
    process.exit(1);
}

function expect(what, ok) {
    if (!ok) {
        console.error(`ping_pong_demo: unexpected: ${what}`);
        process.exit(1);
    }
}

let client;
try {
    client = await EmberClient.connect(host, port);

    // Lookup: the endpoint-verifier answers whether a name exists.
    const found = await client.lookup("pong");
    const missing = await client.lookup("nobody");
    console.log(`lookup pong: ${found}, lookup nobody: ${missing}`);
    expect("pong not found", found && !missing);

    // One-way: no reply. Messages to one endpoint keep their order, so the server prints the
    // note before it handles the ask below.
    client.send("pong", Note, (n) => { n.text = "hello from node"; });
    console.log("sent a note one-way");

    const reply = await client.ask("pong", Ping, (p) => { p.n = 7n; });
    console.log(`ping 7 -> pong ${reply.as(Pong).n} from ${reply.sender} (${reply.senderName})`);
    expect("wrong pong", reply.as(Pong).n === 7n);

    // Failures the env sends: a failure frame with an RpcFailure {code, message}.
    const notFound = await failureOf("ask of nobody", client.ask("nobody", Ping, (p) => { p.n = 1n; }));
    console.log(`ask nobody -> ${notFound.message}`);
    expect("not endpoint_not_found", notFound.code === ErrorCode.ENDPOINT_NOT_FOUND);

    const unknown = await failureOf("ask of a Note", client.ask("pong", Note, (n) => { n.text = "an ask"; }));
    console.log(`ask a Note -> ${unknown.message}`);
    expect("not unknown_message_type", unknown.code === ErrorCode.UNKNOWN_MESSAGE_TYPE);

    // Failures on this side. The server holds Silence asks unanswered: giving up on one sends a
    // cancel frame, and its RpcCallContext::cancelled() turns true at the server.
    const timedOut = await failureOf("ask of a Silence", client.ask("pong", Silence, null, { timeoutMs: 200 }));
    console.log(`silence -> ${timedOut.message}`);
    expect("not timeout", timedOut.code === ErrorCode.TIMEOUT);

    const controller = new AbortController();
    const aborted = client.ask("pong", Silence, null, { signal: controller.signal });
    controller.abort();
    const abortError = await failureOf("aborted ask", aborted);
    console.log(`silence -> ${abortError.message}`);
    expect("not aborted", abortError.code === ErrorCode.ABORTED);

    // The cancels went out before this ask, on the same connection: when it arrives, the server
    // drops the two held asks (it says so when it stops).
    const last = await client.ask("pong", Ping, (p) => { p.n = 8n; });
    console.log(`ping 8 -> pong ${last.as(Pong).n}`);
} catch (e) {
    console.error(`ping_pong_demo: ${e.message}`);
    process.exit(1);
} finally {
    client?.close();
}
