# Messages that the README's endpoint snippets use besides ping_pong.capnp ("Replying later",
# "Ask timeouts"). test/docs/readme_snippets.py compiles those snippets against this schema.
@0xee19ff4f7af520b8;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ember::examples::readme::wire");

# Asked: digest the file at `path`. Answered with a DigestResult.
struct Digest {
  path @0 :Text;
}

struct DigestResult {
  sum @0 :UInt64;
}
