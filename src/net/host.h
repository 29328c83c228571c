// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace laminar::policy {
class SyncEngine;
class WriteQueue;
}  // namespace laminar::policy

namespace laminar::net {

class ClientRegistry;
class Invalidations;
class Worker;

// What the daemon gives its I/O threads and their sessions: the state they share (the client
// registry, the sync engine, the write queue) and the commands that act on the whole daemon
// (INFO's Laminar section, LAMINAR STATUS, RELOAD and BACKFILL). app::Server implements it, so
// net/ never names the layer that wires it.
class Host {
public:
    virtual ~Host() = default;

    virtual ClientRegistry& registry() = 0;
    // CLIENT TRACKING's table of what tracking clients read, shared by the I/O threads.
    virtual Invalidations& invalidations() = 0;
    virtual policy::SyncEngine& sync() = 0;
    // The durable write queue, once a configuration with a queued_write route has opened it.
    virtual policy::WriteQueue* queue() const = 0;
    // The oldest configuration generation any I/O thread still routes with.
    virtual uint64_t minInstalledGeneration() const = 0;
    // The "# Laminar" INFO section, as seen from one I/O thread.
    virtual std::string infoSection(Worker& from) const = 0;
    // LAMINAR STATUS, for a person reading redis-cli.
    virtual std::string statusText(Worker& from) const = 0;
    // LAMINAR BACKFILL START <route> [RATE keys/s] [MATCH glob] | STATUS [route] | STOP <route>:
    // the RESP reply.
    virtual std::string backfillCommand(Worker& from, std::span<const std::string_view> argv) = 0;
    // From any thread: reloads the configuration file on the daemon's main thread, then calls
    // `done(error)` there (error empty on success). `force`: past the phase guardrails.
    virtual void reloadAsync(std::function<void(std::string)> done, bool force) = 0;
    // From any thread: on the main thread, what a reload of the file would do to each migration
    // route (and whether the guardrails would refuse it), without doing it; `done(report)` there.
    virtual void dryRunAsync(std::function<void(std::string)> done) = 0;
    // LAMINAR MIGRATION [route]: each migration route's phase, what it waits for, and whether the
    // next and previous phases are safe now. Empty when there is no such route.
    virtual std::string migrationText(Worker& from, std::string_view route) const = 0;
    // LAMINAR VERIFIED <a> <b> <match|-> <equal|different> <compared> <differences>: what
    // `laminar verify --report` found, for LAMINAR MIGRATION. The RESP reply.
    virtual std::string verifiedCommand(std::span<const std::string_view> argv) = 0;
};

}  // namespace laminar::net
