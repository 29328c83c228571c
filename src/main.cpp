// SPDX-License-Identifier: Apache-2.0
// laminar: a Redis-protocol proxy that routes every command to an old and a new backend by a YAML
// policy, so a store can be migrated with no downtime and a reverse gear.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "obs/logging.h"
#include "config/config.h"
#include "app/server.h"
#include "io/tls.h"
#include "policy/snapshot.h"
#include "tools/copy.h"
#include "tools/verify.h"

namespace {
std::atomic<bool> g_stop{false};
extern "C" void onInterrupt(int) { g_stop.store(true); }
}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"laminar: a Redis-protocol migration proxy"};
    std::string config_path;
    std::string check_path;
    std::string list_path;
    bool version = false;
    app.add_option("-c,--config", config_path, "run the daemon with this configuration file");
    app.add_option("--check-config", check_path, "validate a configuration file and exit");
    app.add_option("--list-backends", list_path, "print 'name type host port' for each backend (each memcached server) of a config, for scripts");
    app.add_flag("-v,--version", version, "print the version and exit");
    bool quarantine_queue = false;
    app.add_flag("--quarantine-queue", quarantine_queue,
                 "if the write queue (queue.dir) cannot be opened, move it aside to <dir>.quarantined-<unix time> and start with an "
                 "empty one (its records then never reach their targets)");

    laminar::tools::CopyOptions copy;
    std::string copy_config, copy_mode = "skip-existing";
    auto* copy_cmd = app.add_subcommand("copy", "copy keys from one backend to another (SCAN, DUMP + PTTL, RESTORE)");
    copy_cmd->add_option("-c,--config", copy_config, "configuration naming the backends")->required();
    copy_cmd->add_option("--from", copy.from, "source backend")->required();
    copy_cmd->add_option("--to", copy.to, "target backend")->required();
    copy_cmd->add_option("--match", copy.match, "only keys matching this glob");
    copy_cmd->add_option("--mode", copy_mode, "skip-existing (never overwrite a key the target has) or overwrite")
        ->check(CLI::IsMember({"skip-existing", "overwrite"}));
    copy_cmd->add_option("--rate", copy.rate, "at most this many keys per second (0 = no limit)");
    copy_cmd->add_option("--checkpoint", copy.checkpoint, "save progress here and resume from it");
    copy_cmd->add_flag("--delete-extra", copy.delete_extra,
                       "then delete on the target the keys (matching --match) the source does not have: a reconcile (Redis targets)");

    laminar::tools::VerifyOptions verify;
    std::string verify_config;
    double ttl_tolerance = 2.0;
    auto* verify_cmd = app.add_subcommand("verify", "compare keys of two backends: type, value and TTL");
    verify_cmd->add_option("-c,--config", verify_config, "configuration naming the backends")->required();
    verify_cmd->add_option("--a", verify.a, "one backend")->required();
    verify_cmd->add_option("--b", verify.b, "the other backend")->required();
    verify_cmd->add_option("--match", verify.match, "only keys matching this glob");
    verify_cmd->add_option("--sample", verify.sample, "compare this many random keys of --a (default: all, both ways)");
    verify_cmd->add_option("--ttl-tolerance", ttl_tolerance, "seconds two TTLs may differ by (default 2)");
    verify_cmd->add_option("--examples", verify.examples, "differences to print (default 10)");
    verify_cmd->add_flag("--report", verify.report, "tell the laminar of the config (its listen address) what was found: LAMINAR MIGRATION shows it");
    CLI11_PARSE(app, argc, argv);

    if (*copy_cmd || *verify_cmd) {
        try {
            auto cfg = laminar::config::loadFile(*copy_cmd ? copy_config : verify_config);
            if (*verify_cmd) {
                verify.ttl_tolerance_ms = static_cast<long long>(ttl_tolerance * 1000);
                return laminar::tools::runVerify(cfg, verify, std::cout, std::cerr);
            }
            copy.overwrite = copy_mode == "overwrite";
            std::signal(SIGINT, onInterrupt);
            std::signal(SIGTERM, onInterrupt);
            return laminar::tools::runCopy(cfg, copy, std::cout, std::cerr, g_stop);
        } catch (const std::exception& e) {
            std::cerr << e.what() << "\n";
            return laminar::tools::kUsage;
        }
    }

    if (version) {
        std::cout << "laminar " << LAMINAR_VERSION << "\n";
        return 0;
    }
    if (!check_path.empty()) {
        try {
            auto snapshot = laminar::policy::loadSnapshot(check_path, 0);  // builds every strategy
            laminar::io::checkTls(snapshot->config());                    // loads every certificate
            std::cout << check_path << ": ok (hash " << snapshot->config().hash << ")\n";
            return 0;
        } catch (const std::exception& e) {
            std::cerr << e.what() << "\n";
            return 1;
        }
    }
    if (!list_path.empty()) {
        try {
            for (const auto& b : laminar::config::loadFile(list_path).backends) {
                if (b.type == laminar::config::BackendConfig::Type::kRedis)
                    std::cout << b.name << " redis " << b.address.host << " " << b.address.port << "\n";
                else  // memcached servers, a cluster's seeds
                    for (const auto& s : b.servers) std::cout << b.name << " " << b.typeName() << " " << s.host << " " << s.port << "\n";
            }
            return 0;
        } catch (const std::exception& e) {
            std::cerr << e.what() << "\n";
            return 1;
        }
    }
    if (config_path.empty()) {
        std::cerr << "laminar: no configuration: use -c FILE (or --help)\n";
        return 2;
    }
    try {
        auto snapshot = laminar::policy::loadSnapshot(config_path, 1);
        laminar::io::checkTls(snapshot->config());
        laminar::obs::setupLogging(snapshot->config().log);
        laminar::app::Server server(std::move(snapshot), config_path, quarantine_queue);
        server.run();
    } catch (const laminar::config::ConfigError& e) {
        std::cerr << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "laminar: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
