// SPDX-License-Identifier: Apache-2.0
// laminar: a Redis-protocol proxy that routes every command to an old and a new backend by a YAML
// policy, so a store can be migrated with no downtime and a reverse gear.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>

#include "admin/logging.h"
#include "config/config.h"
#include "net/server.h"
#include "policy/router.h"

int main(int argc, char** argv) {
    CLI::App app{"laminar: a Redis-protocol migration proxy"};
    std::string config_path;
    std::string check_path;
    std::string list_path;
    bool version = false;
    app.add_option("-c,--config", config_path, "run the daemon with this configuration file");
    app.add_option("--check-config", check_path, "validate a configuration file and exit");
    app.add_option("--list-backends", list_path, "print 'name type host port' for each backend of a config (for scripts)");
    app.add_flag("-v,--version", version, "print the version and exit");
    CLI11_PARSE(app, argc, argv);

    if (version) {
        std::cout << "laminar " << LAMINAR_VERSION << "\n";
        return 0;
    }
    if (!check_path.empty()) {
        try {
            auto snapshot = laminar::policy::loadSnapshot(check_path, 0);  // builds every strategy
            std::cout << check_path << ": ok (hash " << snapshot->config().hash << ")\n";
            return 0;
        } catch (const std::exception& e) {
            std::cerr << e.what() << "\n";
            return 1;
        }
    }
    if (!list_path.empty()) {
        try {
            for (const auto& b : laminar::config::loadFile(list_path).backends)
                std::cout << b.name << " redis " << b.address.host << " " << b.address.port << "\n";
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
        laminar::admin::setupLogging(snapshot->config().log);
        laminar::net::Server server(std::move(snapshot), config_path);
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
