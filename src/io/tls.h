// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <memory>
#include <string>

#include "config/config.h"
#include "io/buffer.h"
#include "io/socket_io.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace laminar::io {

// TLS on the poller-driven data path, with OpenSSL used directly on the non-blocking socket (the
// data path does not use Asio's sockets, see poller.h, so Asio's ssl::stream has nothing to wrap).
//
//   TlsContext (SSL_CTX: certificates, CAs, verification; shared by every thread)
//     -> TlsChannel (SSL: one connection; handshake, send, recv with socket_io.h's statuses)

// One configured side: laminar's listener, or the client side towards one backend. Immutable once
// built; OpenSSL allows SSL_new on it from any thread.
class TlsContext {
public:
    // Each throws std::runtime_error saying which file or setting is wrong.
    static std::shared_ptr<TlsContext> server(const config::ServerTlsConfig& cfg);
    // Towards `host` (the backend's address host): the name checked is tls.server_name or host.
    // Contexts are shared by every connection with the same settings (a per-process cache).
    static std::shared_ptr<TlsContext> client(const config::BackendTlsConfig& cfg, const std::string& host);

    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;

    SSL_CTX* get() const { return ctx_; }
    bool isServer() const { return server_; }
    // Client side: the name sent as SNI and checked against the certificate ("" = no check).
    const std::string& peerName() const { return peer_name_; }

private:
    TlsContext(SSL_CTX* ctx, bool server, std::string peer_name) : ctx_(ctx), server_(server), peer_name_(std::move(peer_name)) {}
    SSL_CTX* ctx_;
    bool server_;
    std::string peer_name_;
};

// One TLS connection over a connected non-blocking socket it does not own. Every call returns at
// once; kWouldBlock means "call again after the next poller event" (reads and writes may each
// need either direction: with TLS, treat any event as both readable and writable).
// Builds every TLS context `cfg` asks for (the listener's, each backend's), so that a missing
// file, a key that does not match its certificate or an unreadable CA fails --check-config, the
// start or the reload, not the first connection. Throws std::runtime_error naming the setting.
// Returns the listener's context (null without `tls`), for a reload to take up.
std::shared_ptr<TlsContext> checkTls(const config::Config& cfg);

class TlsChannel {
public:
    TlsChannel(std::shared_ptr<TlsContext> ctx, int fd);
    ~TlsChannel();
    TlsChannel(const TlsChannel&) = delete;
    TlsChannel& operator=(const TlsChannel&) = delete;

    // kDone once the handshake is over (certificate verified on the client side).
    IoStatus handshake();
    // As sendPending / recvSome. A read is never reported `drained`: a TLS record may end before
    // the socket is empty, so the caller reads until kWouldBlock.
    IoStatus send(const std::string& out, size_t& off);
    IoStatus recv(Buffer& in, size_t min_free, size_t total, bool& drained);
    // Sends close_notify, without waiting for the peer's.
    void shutdown();
    // Why the last kError happened ("certificate verify failed: self-signed certificate", ...).
    const std::string& error() const { return error_; }
    // "TLSv1.3", once the handshake is done.
    std::string version() const;

private:
    IoStatus failed(int ret, const char* what);

    std::shared_ptr<TlsContext> ctx_;
    SSL* ssl_;
    std::string error_;
};

}  // namespace laminar::io
