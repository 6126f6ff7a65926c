// SPDX-License-Identifier: Apache-2.0
// A program in another language (Python, standard library only, hand-encoded capnp) asks an
// ember env over TCP: the wire is usable without ember's code.
#include "rpc/testkit/local_envs.hpp"
#include "test/support/process.hpp"
#include "test/support/recording_endpoint.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <unistd.h>

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

TEST_CASE("The Python client authenticates, with and without encryption, and a wrong secret is refused",
          "[rpc][wire][interop][security]") {
    const char* python = std::getenv("EMBER_PYTHON");
    const char* script = std::getenv("EMBER_WIRE_PY");
    REQUIRE(python);
    REQUIRE(script);
    std::string dir = std::filesystem::temp_directory_path() / ("ember-py-auth-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/right") << "py-secret-1\n";
    std::ofstream(dir + "/wrong") << "py-secret-2\n";
    for (bool encrypt : {false, true}) {
        CAPTURE(encrypt);
        ember::Conf conf;
        conf.set("ember.authenticate", "true").set("ember.authenticate.secret", "py-secret-1");
        if (encrypt) conf.set("ember.network.crypto.enabled", "true");
        testkit::LocalEnvs envs(1, conf);
        auto log = std::make_shared<ember::test::RecordingEndpoint::Log>();
        envs[0].setup_endpoint("inventory", std::make_unique<ember::test::RecordingEndpoint>(log)).value();
        std::string port = std::to_string(envs[0].address().port);
        // The server decides encryption when it requires it; --encrypt asks for it from this side.
        for (bool ask : {false, true}) {
            std::vector<std::string> argv{python, script, "--secret-file", dir + "/right"};
            if (ask) argv.push_back("--encrypt");
            for (const char* a : {"check-existence", "127.0.0.1"}) argv.push_back(a);
            argv.push_back(port);
            argv.push_back("inventory");
            auto yes = ember::test::run_process(argv, "-", 30);
            INFO(yes.err);
            CHECK(yes.exit_code == 0);
            CHECK_THAT(yes.out, Catch::StartsWith("true (answered by " + envs[0].address().host_port() + ")"));
        }
        auto plain = ember::test::run_process({python, script, "check-existence", "127.0.0.1", port, "inventory"}, "-", 30);
        CHECK(plain.exit_code == 1);
        CHECK_THAT(plain.err, Catch::Contains("connection closed") || Catch::Contains("authentication"));
        auto wrong = ember::test::run_process(
            {python, script, "--secret-file", dir + "/wrong", "check-existence", "127.0.0.1", port, "inventory"}, "-", 30);
        CHECK(wrong.exit_code == 1);
        CHECK_THAT(wrong.err, Catch::Contains("authentication failed"));
    }
    std::filesystem::remove_all(dir);
}
