#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Talks to an ember endpoint from Python with nothing but the standard library.

ember's wire is Cap'n Proto: each frame is one capnp message (stream framing: a segment table,
then the segments) whose root is an Envelope (rpc/rpc_envelope.capnp), optionally followed by a
raw body. This file hand-encodes the few structs it needs, to show that any language can speak
to ember; a real client would use its language's capnp library and the installed schemas
(share/ember/schemas).

    python3 ember_wire.py check-existence HOST PORT NAME
        asks the env's "endpoint-verifier" whether endpoint NAME exists; prints true or false.
"""

import socket
import struct
import sys

# Type ids and layouts, from `capnp compile -ocapnp rpc/rpc_envelope.capnp`.
ENVELOPE = dict(data_words=4, ptr_words=4)          # kind bits[0,16) senderPort bits[16,32)
KIND_REQUEST, KIND_RESPONSE, KIND_FAILURE = 1, 2, 3  # requestId bits[64,128) payloadTypeId
CHECK_EXISTENCE = 0x8CE7CFAFB3D79615                 #   bits[128,192) bodySize bits[192,256)
CHECK_EXISTENCE_REPLY = 0x91DC79152FF0E1AB           # ptrs: senderHost 0, senderName 1,
RPC_FAILURE = 0xDBC1292FF0E19D0B                     #   receiver 2, payload 3


class Builder:
    """A single-segment capnp message builder."""

    def __init__(self):
        self.seg = bytearray()

    def alloc(self, words):
        at = len(self.seg) // 8
        self.seg += bytes(8 * words)
        return at

    def struct_ptr(self, ptr_at, target, data_words, ptr_words):
        offset = target - (ptr_at + 1)
        word = ((offset & 0x3FFFFFFF) << 2) | (data_words << 32) | (ptr_words << 48)
        struct.pack_into("<Q", self.seg, 8 * ptr_at, word)

    def new_struct(self, ptr_at, data_words, ptr_words):
        target = self.alloc(data_words + ptr_words)
        self.struct_ptr(ptr_at, target, data_words, ptr_words)
        return target

    def text(self, ptr_at, s):
        raw = s.encode() + b"\0"
        target = self.alloc((len(raw) + 7) // 8)
        self.seg[8 * target: 8 * target + len(raw)] = raw
        offset = target - (ptr_at + 1)
        word = 1 | ((offset & 0x3FFFFFFF) << 2) | (2 << 32) | (len(raw) << 35)  # list of bytes
        struct.pack_into("<Q", self.seg, 8 * ptr_at, word)

    def frame(self):
        return struct.pack("<II", 0, len(self.seg) // 8) + bytes(self.seg)


class Reader:
    """Reads structs of a (possibly multi-segment) capnp message, with bounds checks."""

    def __init__(self, segments):
        self.segs = segments

    def word(self, seg, at):
        if at < 0 or 8 * at + 8 > len(self.segs[seg]):
            raise ValueError("pointer out of bounds")
        return struct.unpack_from("<Q", self.segs[seg], 8 * at)[0]

    def follow(self, seg, at):
        """Resolves the pointer at (seg, at): returns (seg, content start, pointer word)."""
        w = self.word(seg, at)
        if w & 3 == 2:  # far pointer: a landing pad in another segment
            pad, target_seg = (w >> 3) & 0x1FFFFFFF, w >> 32
            if (w >> 2) & 1:  # double-far: pad = far pointer to the content + a tag word
                far = self.word(target_seg, pad)
                tag = self.word(target_seg, pad + 1)
                return far >> 32, (far >> 3) & 0x1FFFFFFF, tag
            return self.follow(target_seg, pad)
        offset = (w >> 2) & 0x3FFFFFFF
        if offset & 0x20000000:
            offset -= 1 << 30
        return seg, at + 1 + offset, w

    def struct_at(self, seg, at):
        if self.word(seg, at) == 0:
            return None
        s, start, w = self.follow(seg, at)
        return (s, start, (w >> 32) & 0xFFFF, w >> 48)

    def u64(self, st, byte):
        s, start, data, _ = st
        return struct.unpack_from("<Q", self.segs[s], 8 * start + byte)[0] if byte + 8 <= 8 * data else 0

    def u16(self, st, byte):
        s, start, data, _ = st
        return struct.unpack_from("<H", self.segs[s], 8 * start + byte)[0] if byte + 2 <= 8 * data else 0

    def ptr(self, st, index):
        s, start, data, ptrs = st
        return (s, start + data + index) if index < ptrs else None

    def text(self, st, index):
        p = self.ptr(st, index)
        if p is None or self.word(*p) == 0:
            return ""
        s, start, w = self.follow(*p)
        n = w >> 35
        return bytes(self.segs[s][8 * start: 8 * start + n - 1]).decode(errors="replace")


def read_frame(sock):
    def exactly(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed")
            buf += chunk
        return buf

    count = struct.unpack("<I", exactly(4))[0] + 1
    sizes = struct.unpack("<%dI" % count, exactly(4 * count))
    if count % 2 == 0:
        exactly(4)  # padding to a word
    segments = [exactly(8 * n) for n in sizes]
    reader = Reader(segments)
    env = reader.struct_at(0, 0)
    body = reader.u64(env, 24)
    if body:
        exactly(body)
    return reader, env


def check_existence(host, port, name, request_id=7):
    b = Builder()
    b.alloc(1)                                     # the root pointer
    env = b.new_struct(0, ENVELOPE["data_words"], ENVELOPE["ptr_words"])
    struct.pack_into("<H", b.seg, 8 * env + 0, KIND_REQUEST)
    struct.pack_into("<Q", b.seg, 8 * env + 8, request_id)
    struct.pack_into("<Q", b.seg, 8 * env + 16, CHECK_EXISTENCE)
    pointers = env + ENVELOPE["data_words"]
    b.text(pointers + 2, "endpoint-verifier")      # receiver
    payload = b.new_struct(pointers + 3, 0, 1)     # CheckExistence: 0 data words, 1 pointer
    b.text(payload, name)
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b.frame())
        reader, reply = read_frame(sock)
    kind, rid, type_id = reader.u16(reply, 0), reader.u64(reply, 8), reader.u64(reply, 16)
    if rid != request_id:
        raise RuntimeError("reply to another request: %d" % rid)
    payload = reader.struct_at(*reader.ptr(reply, 3))
    if kind == KIND_FAILURE and type_id == RPC_FAILURE:
        raise RuntimeError("failure %d: %s" % (reader.u16(payload, 0), reader.text(payload, 0)))
    if kind != KIND_RESPONSE or type_id != CHECK_EXISTENCE_REPLY:
        raise RuntimeError("unexpected reply kind %d type 0x%x" % (kind, type_id))
    answered_by = "%s:%d" % (reader.text(reply, 0), reader.u16(reply, 2))
    return bool(reader.u64(payload, 0) & 1) if payload else False, answered_by


def main(argv):
    if len(argv) != 5 or argv[1] != "check-existence":
        print(__doc__, file=sys.stderr)
        return 2
    exists, by = check_existence(argv[2], int(argv[3]), argv[4])
    print("true" if exists else "false", "(answered by %s)" % by)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
