// SPDX-License-Identifier: Apache-2.0
#include "app/http_server.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <string_view>

namespace laminar::app {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

struct HttpServer::Shared {
    Handlers handlers;
    size_t clients = 0;  // connections open now
};

namespace {

constexpr size_t kMaxHeader = 8 * 1024;  // and as much body
constexpr std::chrono::seconds kTimeout{5};
constexpr size_t kMaxClients = 32;
constexpr std::string_view kText = "text/plain; charset=utf-8";
constexpr std::string_view kPrometheus = "text/plain; version=0.0.4; charset=utf-8";

// One client: read a request, answer it, and again while keep-alive holds. Owned by the handler
// of its pending operation; the tcp_stream's expiry bounds every read and write.
class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(asio::ip::tcp::socket socket, std::shared_ptr<HttpServer::Shared> shared)
        : stream_(std::move(socket)), shared_(std::move(shared)), buffer_(kMaxHeader) {
        ++shared_->clients;
    }
    ~Connection() { --shared_->clients; }

    void read() {
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(kMaxHeader));
        parser_->body_limit(kMaxHeader);  // read (and ignored) so that a POST gets its 405
        stream_.expires_after(kTimeout);
        http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](const error_code& ec, size_t) { self->onRead(ec); });
    }

private:
    void onRead(const error_code& ec) {
        if (ec) {
            // The client left or was too slow: nothing to answer. Anything else it sent was not a
            // request we take (malformed, too large): say so, then close.
            static const auto& kHttp = http::make_error_code(http::error::end_of_stream).category();
            if (ec != http::error::end_of_stream && ec.category() == kHttp) {
                keep_alive_ = head_ = false;
                respond(http::status::bad_request, "bad request\n");
            }
            return;
        }
        const auto& req = parser_->get();
        version_ = req.version();
        keep_alive_ = req.keep_alive();
        head_ = req.method() == http::verb::head;
        std::string_view target(req.target().data(), req.target().size());
        target = target.substr(0, target.find('?'));
        if (target != "/metrics" && target != "/healthz" && target != "/readyz") {
            respond(http::status::not_found, "not found: /metrics, /healthz or /readyz\n");
            return;
        }
        if (req.method() != http::verb::get && !head_) {
            respond(http::status::method_not_allowed, "method not allowed: use GET or HEAD\n", kText, true);
            return;
        }
        try {
            if (target == "/metrics") {
                respond(http::status::ok, shared_->handlers.metrics(), kPrometheus);
            } else if (target == "/healthz") {
                respond(http::status::ok, "ok\n");
            } else {
                auto why = shared_->handlers.unready();
                auto degraded = why.empty() && shared_->handlers.degraded ? shared_->handlers.degraded() : std::string();
                if (!why.empty()) respond(http::status::service_unavailable, "not ready: " + why + "\n");
                else if (!degraded.empty()) respond(http::status::ok, "ready, degraded: " + degraded + "\n");
                else respond(http::status::ok, "ready\n");
            }
        } catch (const std::exception& e) {
            keep_alive_ = false;
            respond(http::status::internal_server_error, std::string(e.what()) + "\n");
        }
    }

    void respond(http::status status, std::string body, std::string_view type = kText, bool allow = false) {
        res_ = {};
        res_.result(status);
        res_.version(version_);
        res_.set(http::field::server, "laminar");
        res_.set(http::field::content_type, beast::string_view(type.data(), type.size()));
        if (allow) res_.set(http::field::allow, "GET, HEAD");
        res_.keep_alive(keep_alive_);
        res_.content_length(body.size());  // HEAD: the length GET would have, and no body
        if (!head_) res_.body() = std::move(body);
        stream_.expires_after(kTimeout);
        http::async_write(stream_, res_, [self = shared_from_this()](const error_code& ec, size_t) {
            if (ec || !self->keep_alive_) {
                error_code ignored;
                self->stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
                return;
            }
            self->read();
        });
    }

    beast::tcp_stream stream_;
    std::shared_ptr<HttpServer::Shared> shared_;
    beast::flat_buffer buffer_;  // at most max_header bytes: a longer request is refused
    std::optional<http::request_parser<http::string_body>> parser_;
    http::response<http::string_body> res_;
    unsigned version_ = 11;
    bool keep_alive_ = false;
    bool head_ = false;
};

}  // namespace

HttpServer::HttpServer(asio::io_context& ioc, const asio::ip::tcp::endpoint& where, Handlers handlers)
    : acceptor_(ioc), shared_(std::make_shared<Shared>(Shared{std::move(handlers), 0})) {
    error_code ec;
    acceptor_.open(where.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(where, ec);
    if (ec) throw std::system_error(ec, "cannot serve admin.metrics on " + where.address().to_string() + ":" + std::to_string(where.port()));
    acceptor_.listen(asio::socket_base::max_listen_connections);
}

void HttpServer::start() { accept(); }

void HttpServer::accept() {
    acceptor_.async_accept([self = shared_from_this()](const error_code& ec, asio::ip::tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
        if (ec) {
            // Out of file descriptors and the like: keep accepting, do not spin.
            auto timer = std::make_shared<asio::steady_timer>(self->acceptor_.get_executor(), std::chrono::milliseconds(50));
            timer->async_wait([self, timer](const error_code& e) {
                if (!e) self->accept();
            });
            return;
        }
        if (self->shared_->clients < kMaxClients)
            std::make_shared<Connection>(std::move(socket), self->shared_)->read();
        self->accept();  // a client over the limit is closed by the socket's destructor
    });
}

}  // namespace laminar::app
