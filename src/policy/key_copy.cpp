// SPDX-License-Identifier: Apache-2.0
#include "policy/key_copy.h"

#include <algorithm>
#include <vector>

#include "policy/owned_command.h"
#include "resp/reply_view.h"

namespace laminar::policy {

namespace {

struct CopyJob {
    std::string key;
    const Strategy* from;
    const Strategy* to;
    bool replace;
    Context ctx;
    std::function<void(bool, std::string_view)> done;
    std::string dump;
    bool dump_null = false, have_dump = false, have_pttl = false, failed = false;
    std::string why;
    long long pttl = -1;

    enum class Reply { kDump, kPttl, kWrite };  // kWrite: the RESTORE or DEL on `to`
    struct Step final : backend::ReplySink {
        CopyJob* job;
        Reply reply;
        void complete(std::string_view raw, bool failed) override { job->onReply(reply, raw, failed); }
    } dump_step{}, pttl_step{}, write_step{};

    explicit CopyJob(const Context& c) : ctx(c) {}

    void start() {
        dump_step.job = pttl_step.job = write_step.job = this;
        dump_step.reply = Reply::kDump;
        pttl_step.reply = Reply::kPttl;
        write_step.reply = Reply::kWrite;
        OwnedCommand d({"DUMP", key}), p({"PTTL", key});
        from->execute(d.request(), &dump_step, ctx);
        from->execute(p.request(), &pttl_step, ctx);
    }

    void onReply(Reply which, std::string_view raw, bool bad) {
        if (which == Reply::kWrite) {
            bool ok = !bad && !resp::isError(raw);
            if (!ok && !replace && raw.starts_with("-BUSYKEY")) ok = true;  // first got a value meanwhile
            done(ok, ok ? std::string_view() : raw.substr(0, std::min<size_t>(raw.size(), 200)));
            delete this;
            return;
        }
        if (bad || resp::isError(raw)) {
            failed = true;
            why.assign(raw.substr(0, std::min<size_t>(raw.size(), 200)));
        } else if (which == Reply::kDump) {
            std::string_view body;
            if (resp::isNull(raw)) dump_null = true;
            else if (resp::bulkBody(raw, body)) dump.assign(body);
            else failed = true, why = "unexpected DUMP reply";
        } else {
            resp::integerValue(raw, pttl);
        }
        (which == Reply::kDump ? have_dump : have_pttl) = true;
        if (!have_dump || !have_pttl) return;
        if (failed) {
            done(false, why);
            delete this;
            return;
        }
        if (dump_null || pttl == -2) {
            if (!replace) {  // nothing to warm: the key went away
                done(true, {});
                delete this;
                return;
            }
            OwnedCommand del({"DEL", key});
            to->execute(del.request(), &write_step, ctx);
            return;
        }
        std::vector<std::string> args = {"RESTORE", key, std::to_string(pttl > 0 ? pttl : 0), dump};
        if (replace) args.push_back("REPLACE");
        OwnedCommand restore(std::move(args));
        to->execute(restore.request(), &write_step, ctx);
    }
};

}  // namespace

void copyKey(const std::string& key, const Strategy& from, const Strategy& to, bool replace, Context& ctx,
             std::function<void(bool ok, std::string_view why)> done) {
    auto* job = new CopyJob(backgroundContext(ctx));
    job->key = key;
    job->from = &from;
    job->to = &to;
    job->replace = replace;
    job->done = std::move(done);
    job->start();
}

}  // namespace laminar::policy
