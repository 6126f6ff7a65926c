// SPDX-License-Identifier: Apache-2.0
//
// An ember client for Node.js: asks and sends to ember endpoints over ember's wire protocol
// (README.md, "Wire protocol"), with the published schemas compiled by capnp-es (npm).
//
//     npm install && node generate.mjs         # once: capnp-es, then schemas/ from the .capnp files
//
//     import { EmberClient } from "./ember_client.mjs";
//     const client = await EmberClient.connect("127.0.0.1", 7077);
//     if (await client.lookup("pong")) {
//         const reply = await client.ask("pong", Ping, (p) => { p.n = 7n; });
//         console.log(reply.as(Pong).n);
//     }
//     client.close();
//
// The client is a client-mode peer: it listens nowhere and leaves Envelope.senderHost empty, so
// the env answers over the connection the client opened. It speaks to envs with
// ember.authenticate off only: the handshake that ember.authenticate adds (and the encryption
// of ember.network.crypto.enabled) is implemented by the Python example
// (apps/examples/python/ember_wire.py), not here; an env that requires it refuses the connection
// and ask() fails with authentication_failed. Frames are capnp's standard unpacked stream framing;
// bulk bodies (Envelope.bodySize) are received and handed over as bytes, never sent.
import net from "node:net";

import * as capnp from "capnp-es";

import { CheckExistence, CheckExistenceReply, Envelope, ErrorCode, Kind, RpcFailure } from "./schemas/rpc/rpc_envelope.js";

/** The name of every env's lookup endpoint (Spark's RpcEndpointVerifier). */
export const ENDPOINT_VERIFIER = "endpoint-verifier";
/** Most segments a frame may have: an ember env closes a connection that announces more. */
export const MAX_SEGMENTS = 512;
/** ember.rpc.message.maxSize's default: the most bytes a frame's capnp part may have. */
export const DEFAULT_MAX_FRAME_BYTES = 128 * 1024 * 1024;
/** ember.rpc.askTimeout's default (Spark's spark.rpc.askTimeout: 120 s). */
export const DEFAULT_ASK_TIMEOUT_MS = 120_000;

const FAILURE_RECORD = Buffer.from("EMBRFAIL");  // an env's "authentication failed: ..." record

/** "endpoint_not_found" for 2: the names ember uses (RpcErrc's to_string), from the schema's enum. */
export function codeName(code) {
    for (const [name, value] of Object.entries(ErrorCode)) {
        if (value === code) return name.toLowerCase();
    }
    return `unknown code ${code}`;
}

/** The 64-bit capnp type id of a generated struct class, as ember's Envelope.payloadTypeId. */
export function typeIdOf(StructClass) {
    return BigInt("0x" + StructClass._capnp.id);
}

/**
 * A failed ask: `code` is an ErrorCode value (the env's RpcErrc, or one this client raised:
 * timeout, aborted, connection_failed, connection_closed, protocol_error), `codeName` its name,
 * `detail` the env's message.
 */
export class EmberError extends Error {
    constructor(code, detail) {
        super(`${codeName(code)} (${code}): ${detail}`);
        this.name = "EmberError";
        this.code = code;
        this.codeName = codeName(code);
        this.detail = detail;
    }
}

/** A response: who answered, the payload's type id, and the payload read as a struct. */
export class Reply {
    constructor(message, envelope, body) {
        this.message = message;  // keeps the frame's segments alive for the readers below
        this.envelope = envelope;
        this.typeId = envelope.payloadTypeId;
        this.sender = `${envelope.senderHost}:${envelope.senderPort}`;
        this.senderName = envelope.senderName;
        this.body = body;  // raw bytes after the frame (Envelope.bodySize), or an empty Buffer
    }

    /** The payload as `StructClass`; throws EmberError(unexpected_message) if it is another type. */
    as(StructClass) {
        if (this.typeId !== typeIdOf(StructClass)) {
            throw new EmberError(ErrorCode.UNEXPECTED_MESSAGE,
                `expected a ${StructClass._capnp.displayName} reply, got type id 0x${this.typeId.toString(16)}`);
        }
        return capnp.utils.getAs(StructClass, this.envelope.payload);
    }
}

/**
 * One connection to an ember env. Requests may be outstanding concurrently; each is answered on
 * this connection by the frame with its requestId.
 */
export class EmberClient {
    /** Connects to host:port; rejects with EmberError(connection_failed). */
    static connect(host, port, { maxFrameBytes = DEFAULT_MAX_FRAME_BYTES } = {}) {
        return new Promise((resolve, reject) => {
            const socket = net.connect({ host, port });
            socket.once("connect", () => {
                socket.removeAllListeners("error");
                resolve(new EmberClient(socket, `${host}:${port}`, maxFrameBytes));
            });
            socket.once("error", (e) => reject(new EmberError(ErrorCode.CONNECTION_FAILED, `cannot connect to ${host}:${port}: ${e.message}`)));
        });
    }

    constructor(socket, peer, maxFrameBytes) {
        this.socket = socket;
        this.peer = peer;
        this.maxFrameBytes = maxFrameBytes;
        this.nextId = 1n;
        this.pending = new Map();  // requestId -> {resolve, reject, timer, receiver}
        this.input = Buffer.alloc(0);
        this.closedWith = null;
        socket.setNoDelay(true);
        socket.on("data", (chunk) => this.#onData(chunk));
        socket.on("error", (e) => this.#fail(new EmberError(ErrorCode.CONNECTION_CLOSED, `connection to ${peer} failed: ${e.message}`)));
        socket.on("close", () => this.#fail(new EmberError(ErrorCode.CONNECTION_CLOSED, `connection to ${peer} closed`)));
    }

    /** True if the env has an endpoint called `name` (asks its endpoint-verifier). */
    async lookup(name, options = {}) {
        const reply = await this.ask(ENDPOINT_VERIFIER, CheckExistence, (c) => { c.name = name; }, options);
        return reply.as(CheckExistenceReply).exists;
    }

    /**
     * Sends a `StructClass` message one-way to endpoint `receiver` (RpcEndpointRef::send):
     * `fill(struct)` sets its fields. Nothing comes back, not even an error.
     */
    send(receiver, StructClass, fill) {
        this.#write(this.#frame(Kind.ONE_WAY, 0n, receiver, StructClass, fill));
    }

    /**
     * Asks endpoint `receiver` with a `StructClass` message (RpcEndpointRef::ask). Resolves with
     * the Reply; rejects with EmberError: the env's failure (its code and message), or
     * timeout after `timeoutMs`, or aborted when `signal` (an AbortSignal) fires. On timeout
     * and abort the client sends a `cancel` frame, so the endpoint's RpcCallContext::cancelled()
     * turns true and a late reply is not sent.
     */
    ask(receiver, StructClass, fill, { timeoutMs = DEFAULT_ASK_TIMEOUT_MS, signal } = {}) {
        if (this.closedWith) return Promise.reject(this.closedWith);
        const id = this.nextId++;
        const frame = this.#frame(Kind.REQUEST, id, receiver, StructClass, fill);
        return new Promise((resolve, reject) => {
            const giveUp = (error) => {
                if (!this.pending.delete(id)) return;
                clearTimeout(entry.timer);
                signal?.removeEventListener("abort", onAbort);
                if (!this.closedWith) this.#write(this.#frame(Kind.CANCEL, id, receiver));
                reject(error);
            };
            const onAbort = () => giveUp(new EmberError(ErrorCode.ABORTED, `ask of ${receiver} at ${this.peer} aborted`));
            const entry = {
                resolve: (v) => { signal?.removeEventListener("abort", onAbort); resolve(v); },
                reject: (e) => { signal?.removeEventListener("abort", onAbort); reject(e); },
                timer: setTimeout(() => giveUp(new EmberError(ErrorCode.TIMEOUT,
                    `no reply from ${receiver} at ${this.peer} within ${timeoutMs} ms`)), timeoutMs),
            };
            this.pending.set(id, entry);
            if (signal?.aborted) return onAbort();
            signal?.addEventListener("abort", onAbort, { once: true });
            this.#write(frame);
        });
    }

    /** Closes the connection; outstanding asks fail with connection_closed. */
    close() {
        this.socket.end();
    }

    #frame(kind, requestId, receiver, StructClass, fill) {
        const message = new capnp.Message();
        const envelope = message.initRoot(Envelope);
        envelope.kind = kind;
        envelope.requestId = requestId;
        envelope.receiver = receiver;  // senderHost stays empty: this is a client-mode peer
        if (StructClass) {
            envelope.payloadTypeId = typeIdOf(StructClass);
            const payload = capnp.utils.getAs(StructClass, envelope.payload);
            capnp.utils.initStruct(StructClass._capnp.size, payload);
            fill?.(payload);
        }
        return Buffer.from(message.toArrayBuffer());  // standard stream framing, unpacked
    }

    #write(bytes) {
        if (!this.closedWith) this.socket.write(bytes);
    }

    #fail(error) {
        if (this.closedWith) return;
        this.closedWith = error;
        for (const [id, p] of this.pending) {
            clearTimeout(p.timer);
            p.reject(error);
            this.pending.delete(id);
        }
        this.socket.destroy();
    }

    #onData(chunk) {
        this.input = this.input.length ? Buffer.concat([this.input, chunk]) : chunk;
        try {
            for (;;) {
                const consumed = this.#onFrame(this.input);
                if (consumed === 0) return;
                this.input = this.input.subarray(consumed);
            }
        } catch (e) {
            this.#fail(e instanceof EmberError ? e : new EmberError(ErrorCode.PROTOCOL_ERROR, `malformed frame from ${this.peer}: ${e.message}`));
        }
    }

    /** Handles the frame at the start of `buf`; returns its length, or 0 if it is incomplete. */
    #onFrame(buf) {
        if (buf.length >= 4 && buf.subarray(0, 4).equals(FAILURE_RECORD.subarray(0, 4))) {
            // "EMBRFAIL", u16 length, reason: the env requires ember.authenticate.
            if (buf.length < 10) return 0;
            const n = buf.readUInt16BE(8);
            if (buf.length < 10 + n) return 0;
            throw new EmberError(ErrorCode.AUTHENTICATION_FAILED, `${this.peer} refused the connection: ` +
                `${buf.subarray(10, 10 + n).toString()} (this client does not implement ember.authenticate)`);
        }
        // Segment table: u32 segment count - 1, a u32 size in words per segment, padding to 8 bytes.
        if (buf.length < 4) return 0;
        const segments = buf.readUInt32LE(0) + 1;
        if (segments > MAX_SEGMENTS) throw new EmberError(ErrorCode.PROTOCOL_ERROR, `frame of ${segments} segments (most: ${MAX_SEGMENTS})`);
        const tableBytes = (4 + 4 * segments + 7) & ~7;
        if (buf.length < tableBytes) return 0;
        let words = 0;
        for (let i = 0; i < segments; i++) words += buf.readUInt32LE(4 + 4 * i);
        const frameBytes = tableBytes + 8 * words;
        if (frameBytes > this.maxFrameBytes) {
            throw new EmberError(ErrorCode.FRAME_TOO_LARGE, `frame of ${frameBytes} bytes (ember.rpc.message.maxSize: ${this.maxFrameBytes})`);
        }
        if (buf.length < frameBytes) return 0;
        const message = new capnp.Message(buf.subarray(0, frameBytes), false);  // false: unpacked
        const envelope = message.getRoot(Envelope);
        const bodyBytes = Number(envelope.bodySize);
        if (bodyBytes > this.maxFrameBytes) throw new EmberError(ErrorCode.FRAME_TOO_LARGE, `frame announces a body of ${bodyBytes} bytes`);
        if (buf.length < frameBytes + bodyBytes) return 0;
        const body = Buffer.from(buf.subarray(frameBytes, frameBytes + bodyBytes));
        this.#dispatch(message, envelope, body);
        return frameBytes + bodyBytes;
    }

    #dispatch(message, envelope, body) {
        const id = envelope.requestId;
        switch (envelope.kind) {
            case Kind.RESPONSE:
            case Kind.FAILURE: {
                const p = this.pending.get(id);
                if (!p) return;  // the ask timed out or was aborted: a late answer is dropped
                this.pending.delete(id);
                clearTimeout(p.timer);
                if (envelope.kind === Kind.RESPONSE) {
                    p.resolve(new Reply(message, envelope, body));
                } else if (envelope.payloadTypeId === typeIdOf(RpcFailure)) {
                    const f = capnp.utils.getAs(RpcFailure, envelope.payload);
                    p.reject(new EmberError(f.code, f.message));
                } else {
                    p.reject(new EmberError(ErrorCode.REMOTE_FAILURE, "failure without an RpcFailure payload"));
                }
                return;
            }
            case Kind.REQUEST:
                // This client has no endpoints: say so, as an env does.
                this.#write(this.#frame(Kind.FAILURE, id, "", RpcFailure, (f) => {
                    f.code = ErrorCode.ENDPOINT_NOT_FOUND;
                    f.message = `the Node client at the other end has no endpoint ${envelope.receiver}`;
                }));
                return;
            default:
                return;  // one-way messages and cancels: nothing here handles them
        }
    }
}
