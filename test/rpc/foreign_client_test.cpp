// SPDX-License-Identifier: Apache-2.0
// A program in another language (Python, standard library only, hand-encoded capnp) asks an
// ember env over TCP: the wire is usable without ember's code.
#include "rpc/testkit/local_envs.hpp"
#include "test/support/process.hpp"
#include "test/support/recording_endpoint.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>

using namespace ember::rpc;

TEST_CASE("A Python client that hand-encodes capnp looks endpoints up through the verifier", "[rpc][wire][interop]") {
    const char* python = std::getenv("EMBER_PYTHON");
    const char* script = std::getenv("EMBER_WIRE_PY");
    REQUIRE(python);
    REQUIRE(script);
    testkit::LocalEnvs envs(1);
    auto log = std::make_shared<ember::test::RecordingEndpoint::Log>();
    envs[0].setup_endpoint("inventory", std::make_unique<ember::test::RecordingEndpoint>(log)).value();
    std::string port = std::to_string(envs[0].address().port);

    auto yes = ember::test::run_process({python, script, "check-existence", "127.0.0.1", port, "inventory"}, "-", 30);
    INFO(yes.err);
    CHECK(yes.exit_code == 0);
    CHECK_THAT(yes.out, Catch::StartsWith("true (answered by " + envs[0].address().host_port() + ")"));

    auto no = ember::test::run_process({python, script, "check-existence", "127.0.0.1", port, "nobody"}, "-", 30);
    CHECK(no.exit_code == 0);
    CHECK_THAT(no.out, Catch::StartsWith("false"));
}
