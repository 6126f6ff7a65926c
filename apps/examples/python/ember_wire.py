#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Talks to an ember endpoint from Python with nothing but the standard library.

ember's wire is Cap'n Proto: each frame is one capnp message (stream framing: a segment table,
then the segments) whose root is an Envelope (rpc/rpc_envelope.capnp), optionally followed by a
raw body. This file hand-encodes the few structs it needs, to show that any language can speak
to ember; a real client would use its language's capnp library and the installed schemas
(share/ember/schemas), as apps/examples/node does with capnp-es.

    python3 ember_wire.py [--secret-file PATH] [--encrypt] check-existence HOST PORT NAME
        asks the env's "endpoint-verifier" whether endpoint NAME exists; prints true or false.

An env with ember.authenticate on first runs the handshake of the README's wire section (the
secret comes from --secret-file or the EMBER_AUTH_SECRET environment variable): HMAC-SHA256 and
HKDF from the standard library. Encryption (--encrypt, or a server with
ember.network.crypto.enabled) needs X25519 and AES-GCM from the `cryptography` package (Debian:
python3-cryptography).
"""

import hashlib
import hmac
import os
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


def hkdf_sha256(ikm, salt, info, length):
    """RFC 5869 HKDF with SHA-256 (hmac and hashlib, nothing hand-made)."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


class AuthError(Exception):
    """The handshake failed; the message says which side refused and why."""


class Channel:
    """A connection to an env: plain bytes, or, once authenticated with encryption, AES-256-GCM
    records (u32 length | ciphertext | tag; nonce = IV salt | u64 record number; the length is
    the additional data)."""

    MAGIC, FAIL = b"EMBRAUTH", b"EMBRFAIL"

    def __init__(self, sock):
        self.sock = sock
        self.seal = self.open = None
        self.plain = b""

    def _raw(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(min(n - len(buf), 1 << 20))
            if not chunk:
                raise ConnectionError("connection closed")
            buf += chunk
        return buf

    def _failure(self, first):
        """Reads the rest of a failure record whose first bytes are `first`; returns its text."""
        rest = self._raw(len(self.FAIL) - len(first))
        if first + rest != self.FAIL:
            raise AuthError("the server did not answer with the ember handshake")
        n = struct.unpack(">H", self._raw(2))[0]
        return self._raw(n).decode(errors="replace")

    def authenticate(self, secret, encrypt):
        k = hkdf_sha256(secret, b"ember-auth-v1", b"mac", 32)
        private = None
        if encrypt or _has_cryptography():
            from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
            from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
            private = X25519PrivateKey.generate()
            key = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        else:
            key = bytes(32)  # all zero: this client cannot encrypt
        nonce = os.urandom(32)
        hello = self.MAGIC + bytes([1, 1 if encrypt else 0]) + nonce + key
        self.sock.sendall(hello)
        head = self._raw(8)
        if head == self.FAIL:
            n = struct.unpack(">H", self._raw(2))[0]
            raise AuthError("authentication failed: the server refused: " + self._raw(n).decode(errors="replace"))
        if head != self.MAGIC:
            raise AuthError("authentication failed: the server did not answer with the ember handshake")
        server = head + self._raw(106 - 8)
        if server[8] != 1:
            raise AuthError("authentication failed: the server speaks handshake version %d" % server[8])
        mac = hmac.new(k, b"ember-v1 server" + hello + server[:74], hashlib.sha256).digest()
        if not hmac.compare_digest(mac, server[74:]):
            raise AuthError("authentication failed: the server did not prove it knows the secret")
        encrypted = encrypt or bool(server[9] & 1)
        if encrypted:
            if private is None:
                raise AuthError("authentication failed: the server requires encryption; install python3-cryptography")
            from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            shared = private.exchange(X25519PublicKey.from_public_bytes(server[42:74]))
            okm = hkdf_sha256(shared + k, nonce + server[10:42], b"ember-v1 session", 72)
            self.seal = [AESGCM(okm[0:32]), okm[64:68], 0]
            self.open = [AESGCM(okm[32:64]), okm[68:72], 0]
        self.sock.sendall(hmac.new(k, b"ember-v1 client" + hello + server, hashlib.sha256).digest())
        status = self._raw(1)
        if status != b"\x00":
            raise AuthError("authentication failed: the server refused: " + self._failure(status))

    def sendall(self, data):
        if not self.seal:
            self.sock.sendall(data)
            return
        aead, salt, _ = self.seal
        out = b""
        for at in range(0, len(data), 65536):
            piece = data[at: at + 65536]
            header = struct.pack(">I", len(piece))
            nonce = salt + struct.pack(">Q", self.seal[2])
            self.seal[2] += 1
            out += header + aead.encrypt(nonce, piece, header)
        self.sock.sendall(out)

    def recv_exactly(self, n):
        if not self.open:
            return self._raw(n)
        aead, salt, _ = self.open
        while len(self.plain) < n:
            header = self._raw(4)
            length = struct.unpack(">I", header)[0]
            if not 1 <= length <= 65536:
                raise ConnectionError("corrupt encrypted record")
            sealed = self._raw(length + 16)
            nonce = salt + struct.pack(">Q", self.open[2])
            self.open[2] += 1
            self.plain += aead.decrypt(nonce, sealed, header)
        out, self.plain = self.plain[:n], self.plain[n:]
        return out


def _has_cryptography():
    try:
        import cryptography.hazmat.primitives.ciphers.aead  # noqa: F401
        return True
    except ImportError:
        return False


def read_frame(chan):
    exactly = chan.recv_exactly

    first = exactly(4)
    if first == Channel.FAIL[:4]:
        # A failure record where a frame was expected: the server requires authentication.
        rest = exactly(4)
        if first + rest == Channel.FAIL:
            n = struct.unpack(">H", exactly(2))[0]
            raise AuthError("the server refused the connection: " + exactly(n).decode(errors="replace"))
        first += rest
    count = struct.unpack("<I", first[:4])[0] + 1
    if count > 512:
        raise ConnectionError("not an ember frame: %d segments" % count)
    table = first[4:] + exactly(4 * count - len(first[4:]))
    sizes = struct.unpack("<%dI" % count, table)
    if sum(sizes) > (128 << 20) // 8:
        raise ConnectionError("frame of %d words is over ember.rpc.message.maxSize" % sum(sizes))
    if count % 2 == 0:
        exactly(4)  # padding to a word
    segments = [exactly(8 * n) for n in sizes]
    reader = Reader(segments)
    env = reader.struct_at(0, 0)
    body = reader.u64(env, 24)
    if body > (128 << 20):
        raise ConnectionError("frame announces a body of %d bytes" % body)
    if body:
        exactly(body)
    return reader, env


def check_existence(host, port, name, request_id=7, secret=None, encrypt=False):
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
        chan = Channel(sock)
        if secret is not None:
            chan.authenticate(secret, encrypt)
        chan.sendall(b.frame())
        reader, reply = read_frame(chan)
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
    args = argv[1:]
    secret, encrypt = os.environ.get("EMBER_AUTH_SECRET"), False
    while args and args[0].startswith("--"):
        if args[0] == "--secret-file" and len(args) > 1:
            with open(args[1], "rb") as f:
                secret = f.read().rstrip(b"\r\n")
            args = args[2:]
        elif args[0] == "--encrypt":
            encrypt, args = True, args[1:]
        else:
            break
    if len(args) != 4 or args[0] != "check-existence":
        print(__doc__, file=sys.stderr)
        return 2
    if isinstance(secret, str):
        secret = secret.encode()
    try:
        exists, by = check_existence(args[1], int(args[2]), args[3], secret=secret, encrypt=encrypt)
    except (AuthError, ConnectionError, OSError) as e:
        print("ember_wire.py: %s" % e, file=sys.stderr)
        return 1
    print("true" if exists else "false", "(answered by %s)" % by)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
