// SPDX-License-Identifier: Apache-2.0
#include "io/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <fmt/format.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>

namespace laminar::io {
namespace {

// The oldest error OpenSSL queued on this thread, as text; clears the queue.
std::string opensslError() {
    unsigned long first = ERR_get_error();
    ERR_clear_error();
    if (first == 0) return "unknown TLS error";
    char buf[256];
    ERR_error_string_n(first, buf, sizeof buf);
    // "error:0A000086:SSL routines::certificate verify failed": the reason is what a person reads.
    std::string s(buf);
    if (auto colon = s.rfind(':'); colon != std::string::npos && colon + 1 < s.size()) return s.substr(colon + 1);
    return s;
}

[[noreturn]] void setupFailed(const std::string& what) { throw std::runtime_error(what + ": " + opensslError()); }

bool isIpLiteral(const std::string& host) {
    unsigned char buf[sizeof(in6_addr)];
    return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// Common to both sides: TLS 1.2 at least; writes that may stop half way and resume from a buffer
// that moved (the output strings grow while a write waits); idle connections give their buffers
// back; a peer closing without close_notify reads as a plain close, as for TCP.
SSL_CTX* newContext(const SSL_METHOD* method) {
    SSL_CTX* ctx = SSL_CTX_new(method);
    if (!ctx) setupFailed("cannot create a TLS context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    return ctx;
}

void loadKeyPair(SSL_CTX* ctx, const std::string& cert, const std::string& key) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) setupFailed("cannot load certificate '" + cert + "'");
    if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) setupFailed("cannot load private key '" + key + "'");
    if (SSL_CTX_check_private_key(ctx) != 1) setupFailed("private key '" + key + "' does not match certificate '" + cert + "'");
}

struct CtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

}  // namespace

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

std::shared_ptr<TlsContext> TlsContext::server(const config::ServerTlsConfig& cfg) {
    std::unique_ptr<SSL_CTX, CtxFree> ctx(newContext(TLS_server_method()));
    loadKeyPair(ctx.get(), cfg.cert, cfg.key);
    if (cfg.client_certs != config::ServerTlsConfig::ClientCerts::kNone) {
        if (SSL_CTX_load_verify_locations(ctx.get(), cfg.ca.c_str(), nullptr) != 1) setupFailed("cannot load CA file '" + cfg.ca + "'");
        if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(cfg.ca.c_str())) SSL_CTX_set_client_CA_list(ctx.get(), names);
        int mode = SSL_VERIFY_PEER;
        if (cfg.client_certs == config::ServerTlsConfig::ClientCerts::kRequire) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(ctx.get(), mode, nullptr);
        // Resumed sessions keep their verified peer: OpenSSL wants a context id for that.
        static const unsigned char kSessionContext[] = "laminar";
        SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof kSessionContext - 1);
    }
    return std::shared_ptr<TlsContext>(new TlsContext(ctx.release(), true, {}));
}

std::shared_ptr<TlsContext> TlsContext::client(const config::BackendTlsConfig& cfg, const std::string& host) {
    std::string name = cfg.verify ? (cfg.server_name.empty() ? host : cfg.server_name) : cfg.server_name;
    // One context per distinct setting, shared by every thread's connections and kept across
    // reloads that do not change it (loading a CA bundle is not free).
    static std::mutex mu;
    static std::map<std::string, std::weak_ptr<TlsContext>> cache;
    std::string key = fmt::format("{}\n{}\n{}\n{}\n{}", cfg.ca, cfg.cert, cfg.key, cfg.verify, name);
    std::lock_guard lock(mu);
    if (auto hit = cache[key].lock()) return hit;

    std::unique_ptr<SSL_CTX, CtxFree> ctx(newContext(TLS_client_method()));
    if (cfg.verify) {
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
        if (!cfg.ca.empty()) {
            if (SSL_CTX_load_verify_locations(ctx.get(), cfg.ca.c_str(), nullptr) != 1) setupFailed("cannot load CA file '" + cfg.ca + "'");
        } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
            setupFailed("cannot load the system's CA certificates");
        }
    } else {
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    }
    if (!cfg.cert.empty()) loadKeyPair(ctx.get(), cfg.cert, cfg.key);
    auto out = std::shared_ptr<TlsContext>(new TlsContext(ctx.release(), false, name));
    cache[key] = out;
    std::erase_if(cache, [](const auto& kv) { return kv.second.expired(); });
    return out;
}

std::shared_ptr<TlsContext> checkTls(const config::Config& cfg) {
    std::shared_ptr<TlsContext> server;
    if (cfg.tls) {
        try {
            server = TlsContext::server(*cfg.tls);
        } catch (const std::exception& e) {
            throw std::runtime_error(fmt::format("{}: tls: {}", cfg.source, e.what()));
        }
    }
    for (const auto& b : cfg.backends) {
        if (!b.tls) continue;
        try {
            TlsContext::client(*b.tls, b.address.host);
        } catch (const std::exception& e) {
            throw std::runtime_error(fmt::format("{}: backends.{}.tls: {}", cfg.source, b.name, e.what()));
        }
    }
    return server;
}

TlsChannel::TlsChannel(std::shared_ptr<TlsContext> ctx, int fd) : ctx_(std::move(ctx)), ssl_(SSL_new(ctx_->get())) {
    if (!ssl_) throw std::runtime_error("cannot create a TLS connection: " + opensslError());
    SSL_set_fd(ssl_, fd);
    if (ctx_->isServer()) {
        SSL_set_accept_state(ssl_);
        return;
    }
    SSL_set_connect_state(ssl_);
    const std::string& name = ctx_->peerName();
    if (name.empty()) return;
    bool ip = isIpLiteral(name);
    if (!ip) SSL_set_tlsext_host_name(ssl_, name.c_str());  // SNI carries names, never addresses
    if (SSL_CTX_get_verify_mode(ctx_->get()) == SSL_VERIFY_NONE) return;
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    if (ip) X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    else SSL_set1_host(ssl_, name.c_str());
}

TlsChannel::~TlsChannel() { SSL_free(ssl_); }

IoStatus TlsChannel::failed(int ret, const char* what) {
    int saved_errno = errno;
    switch (SSL_get_error(ssl_, ret)) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:
            return IoStatus::kWouldBlock;
        case SSL_ERROR_ZERO_RETURN:
            return IoStatus::kClosed;
        case SSL_ERROR_SYSCALL:
            if (ERR_peek_error() == 0) {
                if (saved_errno == 0) return IoStatus::kClosed;
                error_ = fmt::format("{}: {}", what, std::strerror(saved_errno));
                errno = saved_errno;
                return IoStatus::kError;
            }
            [[fallthrough]];
        default: {
            long verify = SSL_get_verify_result(ssl_);
            std::string reason = opensslError();
            if (verify != X509_V_OK) reason += fmt::format(" ({})", X509_verify_cert_error_string(verify));
            error_ = fmt::format("{}: {}", what, reason);
            errno = EPROTO;
            return IoStatus::kError;
        }
    }
}

IoStatus TlsChannel::handshake() {
    ERR_clear_error();
    errno = 0;
    int ret = SSL_do_handshake(ssl_);
    if (ret == 1) return IoStatus::kDone;
    IoStatus st = failed(ret, "TLS handshake failed");
    if (st == IoStatus::kClosed) {
        error_ = "TLS handshake failed: connection closed by peer";
        return IoStatus::kError;
    }
    return st;
}

IoStatus TlsChannel::send(const std::string& out, size_t& off) {
    while (off < out.size()) {
        ERR_clear_error();
        errno = 0;
        int n = SSL_write(ssl_, out.data() + off, static_cast<int>(std::min<size_t>(out.size() - off, INT_MAX)));
        if (n > 0) {
            off += static_cast<size_t>(n);
            continue;
        }
        IoStatus st = failed(n, "TLS write failed");
        return st == IoStatus::kClosed ? IoStatus::kError : st;
    }
    return IoStatus::kDone;
}

IoStatus TlsChannel::recv(Buffer& in, size_t min_free, size_t total, bool& drained) {
    in.reserve(min_free, total);
    ERR_clear_error();
    errno = 0;
    int n = SSL_read(ssl_, in.writePtr(), static_cast<int>(std::min<size_t>(in.writable(), INT_MAX)));
    if (n > 0) {
        in.commit(static_cast<size_t>(n));
        drained = false;
        return IoStatus::kDone;
    }
    return failed(n, "TLS read failed");
}

void TlsChannel::shutdown() {
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
}

std::string TlsChannel::version() const { return SSL_get_version(ssl_); }

}  // namespace laminar::io
