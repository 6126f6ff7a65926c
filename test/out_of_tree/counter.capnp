# The Counter protocol of the out-of-tree example: a schema of the user's own that imports one of
# ember's installed schemas (compiled with -I<prefix>/share/ember/schemas).
@0x926b7d73acac92de;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("counter::wire");

using Rpc = import "/rpc/rpc_envelope.capnp";

# Ask: adds n to the counter. Reply: Total.
struct Add {
  n @0 :Int64;
}

# The counter's value after an Add; also sent one-way to every watcher.
struct Total {
  sum @0 :Int64;
}

# One-way: send a Total to `watcher` after every Add.
struct Watch {
  watcher @0 :Rpc.EndpointRef;
}
