// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <utility>  // before Asio: 1.74 forgets it

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <functional>
#include <memory>
#include <string>

namespace laminar::app {

// The admin HTTP endpoint (admin.metrics), on the main thread's io_context:
//
//   GET|HEAD /metrics  200, the Prometheus text format (text/plain; version=0.0.4)
//   GET|HEAD /healthz  200 "ok": the process serves
//   GET|HEAD /readyz   200 "ready", or 503 with why not
//   other paths 404; other methods on these paths 405
//
// It must not be a way to hurt the proxy: requests are bounded (8 KiB of headers, as much body), a
// client that sends nothing for 5 s (or does not read its answer) is dropped, at most 32 clients
// are served at once (more are closed on accept), and a malformed request gets 400 and a close.
// Keep-alive is honoured.
class HttpServer : public std::enable_shared_from_this<HttpServer> {
public:
    struct Handlers {
        std::function<std::string()> metrics;  // the /metrics body
        std::function<std::string()> unready;  // why /readyz is not ready; empty when it is
        std::function<std::string()> degraded;  // when ready: what is wrong all the same (200 "ready, degraded: ...")
    };

    // Binds and listens (throws std::system_error when it cannot); serving starts with start().
    HttpServer(boost::asio::io_context& ioc, const boost::asio::ip::tcp::endpoint& where, Handlers handlers);
    void start();

    // What the client connections use; they may outlive this object inside the io_context.
    struct Shared;

private:
    void accept();

    boost::asio::ip::tcp::acceptor acceptor_;
    std::shared_ptr<Shared> shared_;
};

}  // namespace laminar::app
