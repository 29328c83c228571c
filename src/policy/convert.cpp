// SPDX-License-Identifier: Apache-2.0
#include "policy/convert.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "obs/logging.h"
#include "policy/fanout.h"
#include "policy/owned_command.h"
#include "policy/reply_compare.h"
#include "policy/route_stats.h"
#include "resp/reply_view.h"
#include "resp/writer.h"

namespace laminar::policy {
namespace {

std::shared_ptr<spdlog::logger> log() {
    static auto l = obs::logger("policy");
    return l;
}

// A key in a message: printable and bounded, whatever bytes it holds.
std::string shown(std::string_view key) { return logExcerpt(key, 100); }

// The text of an error reply, without its '-' and line end.
std::string_view errorText(std::string_view raw) { return raw.substr(1, raw.find("\r\n") - 1); }

std::string laminarError(const std::string& msg) { return "-ERR laminar: convert: " + msg + "\r\n"; }

// A source key deleted once target holds the key: nobody waits for the reply; a failure is counted.
struct SourceDeleted final : backend::ReplySink {
    explicit SourceDeleted(RouteStats* s) : stats(s) {}
    void complete(std::string_view raw, bool failed) override {
        if ((failed || resp::isError(raw)) && stats) {
            RouteStats::add(stats->secondary_failures);
            log()->warn("convert could not delete a source key: {}", logExcerpt(raw.substr(0, raw.find("\r\n")), 200));
        }
        delete this;
    }
    RouteStats* stats;  // in the Registry, which outlives every snapshot
};

}  // namespace

// The source as a client's delete sees it: each key renamed to its source key, keys the rule does
// not cover left out (none left: nothing is sent, and the count is 0). It lets a delete go to both
// sides at once through sendToBoth.
class Convert::SourceDeletes final : public Strategy {
public:
    explicit SourceDeletes(const Convert& owner) : owner_(owner) {}
    std::string_view type() const override { return "convert_source"; }
    void execute(const Request& req, backend::ReplySink* sink, Context& ctx) const override {
        std::vector<std::string> argv{std::string(req.argv[0])};
        for (int i : req.keys)
            if (auto key = owner_.sourceKey(req.argv[static_cast<size_t>(i)])) argv.push_back(std::move(*key));
        if (argv.size() == 1) {
            sink->complete(":0\r\n", false);
            return;
        }
        OwnedCommand del(std::move(argv));
        owner_.source_->execute(del.request(), sink, ctx);
    }
    int pinTarget() const override { return owner_.source_->pinTarget(); }
    void targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const override {
        owner_.source_->targets(req, ctx, write, out);
    }
    std::string describe() const override { return owner_.source_->describe(); }

private:
    const Convert& owner_;
};

// One command on a key target may not have yet (cases 1-7 of the header), as a chain of replies,
// each handled by a member function. It lives until the client has its reply, and so does the
// client's session: every step runs on the client's connections, in order with its other commands.
class Convert::Conversion {
public:
    enum class Mode {
        kGet,    // GET on target; on a null, convert
        kFirst,  // convert when target does not have the key, then run the command
        kWrite,  // a plain overwrite: run it, then delete the source key
    };

    Conversion(const Convert& owner, const Request& req, backend::ReplySink* client, const Context& ctx, Mode mode,
               std::optional<std::string> source_key)
        : owner_(owner),
          client_(client),
          ctx_{ctx.client, ctx.background, ctx.clock, ctx.health, ctx.sync, nullptr, ctx.stats},
          mode_(mode),
          write_(req.isWrite()),
          key_(req.key()),
          source_key_(std::move(source_key)) {
        if (ctx.snapshot) {
            keep_ = *ctx.snapshot;
            ctx_.snapshot = &keep_;  // for strategies nested in source or target
        }
        if (mode == Mode::kFirst) argv_.assign(req.argv.begin(), req.argv.end());
        step_.self = ttl_step_.self = this;
    }

    // `req` is the client's command (kGet, kWrite: sent as it is).
    void start(const Request& req) {
        switch (mode_) {
            case Mode::kGet: send(*owner_.target_, req, &Conversion::onTargetGet); return;
            case Mode::kFirst: send(*owner_.target_, std::vector<std::string>{"EXISTS", key_}, &Conversion::onExists); return;
            case Mode::kWrite: send(*owner_.target_, req, &Conversion::onRun); return;
        }
    }

private:
    using Handler = void (Conversion::*)(std::string_view raw, bool failed);
    struct Step final : backend::ReplySink {
        Conversion* self = nullptr;
        Handler on = nullptr;
        void complete(std::string_view raw, bool failed) override { (self->*on)(raw, failed); }
    };

    // A reply may come before send() returns (a backend that is down): nothing may follow a send.
    void send(const Strategy& to, const Request& req, Handler on) {
        step_.on = on;
        to.execute(req, &step_, ctx_);
    }
    void send(const Strategy& to, std::vector<std::string> argv, Handler on) {
        OwnedCommand cmd(std::move(argv));
        send(to, cmd.request(), on);
    }

    void finish(std::string_view raw, bool failed) {
        client_->complete(raw, failed);
        delete this;
    }

    void onTargetGet(std::string_view raw, bool failed) {
        if (failed || !resp::isNull(raw)) return finish(raw, failed);
        source_key_ = owner_.sourceKey(key_);
        if (!source_key_) return finish(raw, false);
        miss_.assign(raw);
        readSource();
    }

    void onExists(std::string_view raw, bool failed) {
        long long n = 0;
        if (failed || !resp::integerValue(raw, n)) return finish(raw, failed);
        if (n > 0) return run();
        readSource();
    }

    // GET and PTTL of the source key, both sent before either reply is awaited.
    void readSource() {
        if (ctx_.stats) RouteStats::add(ctx_.stats->fallbacks);
        pending_ = 2;
        ttl_step_.on = &Conversion::onSourceTtl;
        OwnedCommand get({"GET", *source_key_}), pttl({"PTTL", *source_key_});
        step_.on = &Conversion::onSourceValue;
        owner_.source_->execute(get.request(), &step_, ctx_);
        owner_.source_->execute(pttl.request(), &ttl_step_, ctx_);
    }

    void onSourceValue(std::string_view raw, bool failed) {
        value_.assign(raw);
        value_failed_ = failed;
        if (--pending_ == 0) convert();
    }

    void onSourceTtl(std::string_view raw, bool failed) {
        ttl_failed_ = failed || !resp::integerValue(raw, pttl_);
        if (ttl_failed_) ttl_reply_.assign(raw);
        if (--pending_ == 0) convert();
    }

    // A source read that failed: a backend failure as it came (it names the backend), an error
    // reply with what was being read.
    void sourceFailed(std::string_view raw, bool failed) {
        if (failed || !resp::isError(raw)) return finish(raw, failed);
        finish(laminarError(fmt::format("cannot read '{}' from '{}': {}", shown(*source_key_), owner_.source_->describe(),
                                        errorText(raw))),
               false);
    }

    void convert() {
        if (value_failed_ || resp::isError(value_)) return sourceFailed(value_, value_failed_);
        if (ttl_failed_) return sourceFailed(ttl_reply_, true);
        std::string_view body;
        // Gone, or expiring between the two reads (PTTL answers -2 for a missing key, -1 for no expiry).
        if (resp::isNull(value_) || (pttl_ != -1 && pttl_ <= 0)) return missOnSource();
        if (!resp::bulkBody(value_, body)) return sourceFailed(value_, true);
        std::string why;
        if (!convertValue(owner_.codec_, body, owner_.max_value_, converted_, why)) {
            if (ctx_.stats) RouteStats::add(ctx_.stats->warm_failures);
            log()->debug("convert of '{}' with {} failed: {}", shown(*source_key_), codecName(owner_.codec_), why);
            return finish(laminarError(fmt::format("cannot convert '{}' from '{}' with {}: {}; nothing was written",
                                                   shown(*source_key_), owner_.source_->describe(), codecName(owner_.codec_), why)),
                          false);
        }
        std::vector<std::string> set = {"SET", key_, converted_, "NX"};
        if (pttl_ > 0) {
            set.push_back("PX");
            set.push_back(std::to_string(pttl_));
        }
        send(*owner_.target_, std::move(set), &Conversion::onWrite);
    }

    void missOnSource() {
        if (mode_ == Mode::kGet) return finish(miss_, false);
        run();
    }

    // SET ... NX: +OK (converted), a null (target got a value meanwhile, which stays), or a failure.
    void onWrite(std::string_view raw, bool failed) {
        bool wrote = !failed && !resp::isError(raw) && !resp::isNull(raw);
        bool newer = !failed && resp::isNull(raw);
        if (!wrote && !newer) {
            if (ctx_.stats) RouteStats::add(ctx_.stats->warm_failures);
            log()->warn("convert could not write the converted value of '{}' to '{}': {}", shown(key_), owner_.target_->describe(),
                        logExcerpt(raw.substr(0, raw.find("\r\n")), 200));
            // The read has its value all the same; a command that builds on the key must not run.
            if (mode_ == Mode::kGet) return finishConverted();
            return finish(raw, failed);
        }
        if (wrote && ctx_.stats) RouteStats::add(ctx_.stats->warm_copies);
        if (owner_.delete_source_) deleteSource();
        if (mode_ == Mode::kFirst) return run();
        if (wrote) return finishConverted();
        send(*owner_.target_, std::vector<std::string>{"GET", key_}, &Conversion::onReread);
    }

    void onReread(std::string_view raw, bool failed) { finish(raw, failed); }

    void finishConverted() {
        std::string reply;
        resp::appendBulk(reply, converted_);
        finish(reply, false);
    }

    // The client's command, on target, once the key is converted.
    void run() {
        OwnedCommand cmd(std::move(argv_));
        if (write_) return send(*owner_.target_, cmd.request(), &Conversion::onRun);
        owner_.target_->execute(cmd.request(), client_, ctx_);
        delete this;
    }

    void onRun(std::string_view raw, bool failed) {
        if (!failed && !resp::isError(raw)) deleteSource();  // case 7
        finish(raw, failed);
    }

    void deleteSource() {
        if (source_deleted_) return;
        source_deleted_ = true;
        OwnedCommand del({"DEL", *source_key_});
        owner_.source_->execute(del.request(), new SourceDeleted(ctx_.stats), ctx_);
    }

    const Convert& owner_;
    backend::ReplySink* client_;
    Context ctx_;
    std::shared_ptr<const Snapshot> keep_;  // owner_ is part of it; ctx_.snapshot points here
    Mode mode_;
    bool write_;
    std::string key_;
    std::optional<std::string> source_key_;
    std::vector<std::string> argv_;  // kFirst: the command to run once converted
    Step step_, ttl_step_;
    int pending_ = 0;
    std::string miss_, value_, ttl_reply_, converted_;
    bool value_failed_ = false, ttl_failed_ = false, source_deleted_ = false;
    long long pttl_ = -2;
};

Convert::Convert(std::unique_ptr<Strategy> source, std::unique_ptr<Strategy> target, KeyRule key, Codec codec, bool delete_source,
                 size_t max_value, const std::string& route)
    : source_(std::move(source)),
      target_(std::move(target)),
      source_deletes_(std::make_unique<SourceDeletes>(*this)),
      key_(std::move(key)),
      codec_(codec),
      delete_source_(delete_source),
      in_place_(source_->describe() == target_->describe()),
      max_value_(max_value),
      route_(route) {}

Convert::~Convert() = default;

std::optional<std::string> Convert::sourceKey(std::string_view key) const {
    auto source = key_.toSource(key);
    if (source && in_place_ && *source == key) return std::nullopt;
    return source;
}

bool Convert::serializes(const Request& req) const {
    return (req.keys.size() == 1 && req.cmd->name != "get" && !req.isDelete() && !req.isPlainOverwrite()) || Strategy::serializes(req);
}

void Convert::execute(const Request& req, backend::ReplySink* sink, Context& ctx) const {
    if (req.keys.empty()) {
        target_->execute(req, sink, ctx);
        return;
    }
    if (req.isDelete()) {
        sendToBoth(req, sink, ctx, *target_, *source_deletes_, Merge::kMaxInteger, nullptr);
        return;
    }
    if (req.keys.size() > 1) {
        sink->complete(fmt::format("-ERR laminar: route '{}' converts one key at a time and '{}' names {} keys; send the keys "
                                   "separately\r\n",
                                   route_, req.cmd->name, req.keys.size()),
                       false);
        return;
    }
    if (req.cmd->name == "get") {  // the source key is needed only on a miss
        (new Conversion(*this, req, sink, ctx, Conversion::Mode::kGet, std::nullopt))->start(req);
        return;
    }
    auto source_key = sourceKey(req.key());
    if (!source_key) {
        target_->execute(req, sink, ctx);
        return;
    }
    auto mode = req.isPlainOverwrite() ? Conversion::Mode::kWrite : Conversion::Mode::kFirst;
    (new Conversion(*this, req, sink, ctx, mode, std::move(source_key)))->start(req);
}

void Convert::targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const {
    if (req.keys.size() > 1 && !req.isDelete()) return;  // refused (case 9)
    target_->targets(req, ctx, write, out);
    if (req.keys.empty() || (req.keys.size() == 1 && !sourceKey(req.key()))) return;
    // Reads look a miss up there; writes and deletes delete there.
    source_->targets(req, ctx, write, out);
}

std::string Convert::describe() const {
    return fmt::format("convert(source={}, target={}, key={}, value={}, delete_source={})", source_->describe(), target_->describe(),
                       key_.describe(), codecName(codec_), delete_source_);
}

namespace {

// key: {prefix, to} or {regex, to}.
KeyRule keyRule(const YAML::Node& node, const std::string& path, Builder& b) {
    config::MapReader r(b.ctx(), node, path);
    auto prefix = r.optString("prefix");
    auto regex = r.optString("regex");
    auto to = r.optString("to");
    r.finish();
    if (prefix && regex) b.fail(node, path, "takes prefix or regex, not both");
    if (!prefix && !regex) b.fail(node, path, "needs prefix or regex (with to)");
    if (!to) b.fail(node, r.path("to"), "is required: the target key's prefix, or a template with $1..$9");
    if (prefix) return KeyRule::prefix(*prefix, *to);
    try {
        return KeyRule::regex(*regex, *to);
    } catch (const KeyRule::Invalid& e) {
        b.fail(r.take(e.field()), r.path(e.field()), e.what());
    }
}

}  // namespace

std::unique_ptr<Strategy> makeConvert(config::MapReader& r, Builder& b) {
    auto source = b.child(r, "source");
    auto target = b.child(r, "target");
    auto key_node = r.take("key");
    KeyRule key;
    if (key_node.IsDefined() && !key_node.IsNull()) key = keyRule(key_node, r.path("key"), b);
    auto value = r.string("value", "identity");
    auto codec = codecByName(value);
    if (!codec) b.fail(r.take("value"), r.path("value"), fmt::format("must be one of {}, got '{}'", codecNames(), value));
    bool delete_source = r.boolean("delete_source", false);
    if (source->describe() == target->describe() && !key.renames())
        b.fail(key_node.IsDefined() ? key_node : r.node(), r.path("key"),
               fmt::format("must rename keys when source and target are the same ('{}'): a converted value could not be told "
                           "from one not converted yet",
                           source->describe()));
    return std::make_unique<Convert>(std::move(source), std::move(target), std::move(key), *codec, delete_source,
                                     static_cast<size_t>(b.config().client.max_bulk), b.routeName());
}

}  // namespace laminar::policy
