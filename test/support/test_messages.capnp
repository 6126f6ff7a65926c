# Messages used by ember's own tests.
@0xd7519e3fa8ce3ba2;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ember::test::wire");

struct Ping {
  n @0 :UInt64;
  text @1 :Text;
}

struct Pong {
  n @0 :UInt64;
  text @1 :Text;
}

# Asks the receiver to throw an exception with `text`.
struct Boom {
  text @0 :Text;
}

# Carries an endpoint ref (client-mode tests).
struct Hello {
  ref @0 :import "/rpc/rpc_envelope.capnp".EndpointRef;
}
