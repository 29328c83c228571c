#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Generates src/resp/command_table_data.inc from a real Redis `COMMAND` reply.

Starts a throwaway redis-server on a free loopback port (no persistence, in a temp dir), asks it
for COMMAND over a raw socket (RESP3, tiny parser below: no pip packages), applies laminar's
override lists and writes the table sorted by name so the output is deterministic.

    scripts/gen_command_table.py                       # regenerate in place
    scripts/gen_command_table.py --check               # exit 1 if the checked-in file is stale
    scripts/gen_command_table.py --redis-server /path/to/redis-server --output /tmp/x.inc
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

# --- Overrides --------------------------------------------------------------------------------
# Naming a container (e.g. "config") applies the override to the container AND every subcommand,
# so a subcommand lookup can never escape a rule meant for the whole family.

# kAdmin on top of Redis's own "admin" flag: commands that destroy data wholesale or reconfigure
# the backends, which a proxy user must opt in to (client.allow_admin).
ADMIN_EXTRA = {
    "flushall": "wipes every database of every backend",
    "flushdb": "wipes a whole database",
    "swapdb": "swaps whole databases under every other client",
    "function|flush": "deletes every library",
    "function|delete": "deletes a library other clients may call",
    "function|restore": "replaces libraries wholesale",
    "function|kill": "kills another client's running function",
    "script|flush": "drops the script cache other clients rely on",
    "script|kill": "kills another client's running script",
    "debug": "can crash or stall the server",
    "config": "reads or changes server configuration (all subcommands)",
    "migrate": "moves keys to an arbitrary host behind the proxy's back",
}

# kBlocking on top of Redis's own "blocking" flag: commands that hold the backend connection
# until something happens elsewhere, which is what kBlocking tells the connection pool.
BLOCKING_EXTRA = {
    "wait": "holds the connection until replicas acknowledge or the timeout expires",
}

# Scripts Redis flags may_replicate, not write: they may write, and laminar cannot tell which will
# before they run, so every strategy treats them as writes (dual_write copies their keys to the
# other side, read_only refuses them, a read-only user cannot run them). Their _RO forms promise
# to read only and stay reads.
WRITE_EXTRA = {
    "eval": "a Lua script may write",
    "evalsha": "a Lua script may write",
    "fcall": "a function may write",
}

# Commands that must never get kAdmin even if a future Redis flags them so; checked below.
NEVER_ADMIN = {
    "keys": "ordinary (if slow) read; clients legitimately use it",
    "lastsave": "harmless timestamp read",
}

# kNoProxy: commands that only make sense on a direct connection to one server, because they
# change the connection's replication/cluster role, hold per-connection server state the proxy
# multiplexes away, or stop/persist the backend itself.
NOPROXY = {
    "monitor": "streams every backend command to one client; breaks the request/reply pairing",
    "sync": "replication handshake, turns the connection into a replica stream",
    "psync": "replication handshake, turns the connection into a replica stream",
    "replconf": "replication-internal",
    "replicaof": "changes the backend's replication role",
    "slaveof": "changes the backend's replication role (old name)",
    "shutdown": "stops the backend",
    "failover": "changes the backend's replication role",
    "cluster": "cluster topology is the proxy's business, not the client's",
    "readonly": "cluster per-connection mode; meaningless on pooled connections",
    "readwrite": "cluster per-connection mode; meaningless on pooled connections",
    "asking": "cluster redirection step; the proxy handles redirections",
    "client|pause": "pauses every client of the backend, not just this one",
    "client|unpause": "undoes a pause the proxy never let through",
    "client|kill": "would kill the proxy's own pooled connections",
    "client|no-evict": "per-connection flag on a pooled connection",
    "client|no-touch": "per-connection flag on a pooled connection",
    "save": "blocking full persistence of the backend",
    "bgsave": "persistence is the operator's business",
    "bgrewriteaof": "persistence is the operator's business",
    "module": "loads code into the backend (all subcommands)",
}

# Overrides allowed to be absent from the running Redis (added in later versions).
OPTIONAL = {"client|no-touch"}

# Commands whose key specs are INCOMPLETE (or have an unknown begin/find), where Redis falls back
# to a hand-written getkeys proc. command_table.cpp emulates exactly these; a new one appearing
# in a future Redis must be handled there before the table is regenerated.
EMULATED_GETKEYS = {
    "sort": "STORE destination is only found by skipping LIMIT/GET/BY arguments",
    "sort_ro": "BY/GET patterns name keys we cannot list; only the sorted key counts",
    "migrate": "KEYS k1..kn replaces the single key at 3 (which must then be empty)",
}

# Redis flag -> laminar CommandFlag.
FLAG_MAP = {
    "readonly": "kRead",
    "write": "kWrite",
    "blocking": "kBlocking",
    "pubsub": "kPubSub",
    "fast": "kFast",
    "movablekeys": "kMovableKeys",
    "admin": "kAdmin",
}
# Order the flags are written in (matches the header's enum order).
FLAG_ORDER = ["kRead", "kWrite", "kAdmin", "kBlocking", "kPubSub", "kTransaction", "kNoKey",
              "kMovableKeys", "kFast", "kNoProxy", "kHasSubcommands"]

OUTPUT_DEFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "resp",
                              "command_table_data.inc")


# --- Minimal RESP2/RESP3 client -----------------------------------------------------------------
class RespError(Exception):
    pass


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def close(self):
        self.sock.close()

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        reply = self._read()
        if isinstance(reply, RespError):
            raise reply
        return reply

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("redis-server closed the connection")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind in (b"-", b"!"):
            text = self._exact(int(rest)) if kind == b"!" else rest
            return RespError(text.decode())
        if kind in (b":", b"("):
            return int(rest)
        if kind == b",":
            return float(rest)
        if kind == b"#":
            return rest == b"t"
        if kind == b"_":
            return None
        if kind in (b"$", b"="):
            n = int(rest)
            if n < 0:
                return None
            data = self._exact(n)
            return (data[4:] if kind == b"=" else data).decode()
        if kind in (b"*", b"~", b">"):
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        if kind == b"%":
            return {self._read(): self._read() for _ in range(int(rest))}
        if kind == b"|":  # attributes: skip them, return the value they annotate
            for _ in range(int(rest)):
                self._read(), self._read()
            return self._read()
        raise ValueError("unexpected RESP type %r" % line)


def as_map(x):
    """RESP3 maps arrive as dicts, RESP2 ones as flat [k, v, k, v] lists."""
    if isinstance(x, dict):
        return x
    if isinstance(x, list) and len(x) % 2 == 0:
        return dict(zip(x[0::2], x[1::2]))
    raise ValueError("expected a map, got %r" % (x,))


# --- Throwaway redis-server -----------------------------------------------------------------------
def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(redis_server):
    """Returns (redis_version, raw COMMAND reply)."""
    with tempfile.TemporaryDirectory(prefix="laminar-gen-") as tmp:
        for _attempt in range(5):  # the free port can be taken between probe and bind: retry
            port = free_port()
            proc = subprocess.Popen(
                [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--daemonize", "no", "--dir", tmp],
                cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                conn = None
                deadline = time.monotonic() + 10
                while conn is None and proc.poll() is None and time.monotonic() < deadline:
                    try:
                        conn = Conn(port)
                    except OSError:
                        time.sleep(0.05)
                if conn is None:
                    continue
                try:
                    try:
                        conn.call("HELLO", "3")
                    except RespError:
                        pass  # RESP2 only: as_map() copes with flat maps
                    info = conn.call("INFO", "server")
                    version = next(l.split(":", 1)[1].strip() for l in info.splitlines()
                                   if l.startswith("redis_version:"))
                    return version, conn.call("COMMAND")
                finally:
                    conn.close()
            finally:
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGTERM)
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        os.kill(proc.pid, signal.SIGKILL)
                        proc.wait()
        raise RuntimeError("could not start %s on a free port" % redis_server)


# --- Model --------------------------------------------------------------------------------------
class Spec:
    def __init__(self, raw):
        m = as_map(raw)
        self.flags = sorted(m.get("flags") or [])  # Redis 7.0 mixes cases: "RO", "not_key"
        self.lflags = {f.lower() for f in self.flags}
        bs = as_map(m["begin_search"])
        fk = as_map(m["find_keys"])
        self.begin, self.find = bs["type"], fk["type"]
        bspec = as_map(bs.get("spec") or {})
        fspec = as_map(fk.get("spec") or {})
        self.index = self.startfrom = self.lastkey = self.limit = 0
        self.keynumidx = self.firstkey = 0
        self.keystep = 1
        self.keyword = ""
        if self.begin == "index":
            self.index = int(bspec["index"])
        elif self.begin == "keyword":
            self.keyword = bspec["keyword"]
            self.startfrom = int(bspec["startfrom"])
        elif self.begin != "unknown":
            raise ValueError("unknown begin_search type %r" % self.begin)
        if self.find == "range":
            self.lastkey = int(fspec["lastkey"])
            self.keystep = int(fspec["keystep"])
            self.limit = int(fspec["limit"])
        elif self.find == "keynum":
            self.keynumidx = int(fspec["keynumidx"])
            self.firstkey = int(fspec["firstkey"])
            self.keystep = int(fspec["keystep"])
        elif self.find != "unknown":
            raise ValueError("unknown find_keys type %r" % self.find)

    def needs_getkeys(self):
        # VARIABLE_FLAGS (SET, BITFIELD) only makes the RO/RW flags vary; positions are exact.
        return "incomplete" in self.lflags or self.begin == "unknown" or self.find == "unknown"


class Command:
    def __init__(self, raw):
        if len(raw) < 10:
            raise ValueError("COMMAND entry too short (Redis < 7.0?): %r" % (raw,))
        name, arity, flags, first, last, step, acl, _tips, specs, subs = raw[:10]
        self.name = name.lower()
        self.arity = int(arity)
        self.redis_flags = set(flags or [])
        self.acl = set(acl or [])
        self.first, self.last, self.step = int(first), int(last), int(step)
        # NOT_KEY specs name shard channels (SPUBLISH, SSUBSCRIBE...), not keys: Redis leaves
        # them out of COMMAND GETKEYS and so do we. Redis derives the legacy range from them
        # though, so zero it, or the legacy fallback would turn the channels back into keys.
        all_specs = [Spec(x) for x in (specs or [])]
        self.specs = [s for s in all_specs if "not_key" not in s.lflags]
        if all_specs and not self.specs:
            self.first = self.last = self.step = 0
        self.subs = sorted((Command(x) for x in (subs or [])), key=lambda c: c.name)
        self.flags = set()

    def walk(self):
        yield self
        for s in self.subs:
            yield s


def compute_flags(commands):
    by_name = {c.name: c for top in commands for c in top.walk()}
    for c in by_name.values():
        c.flags = {FLAG_MAP[f] for f in c.redis_flags if f in FLAG_MAP}
        if "@transaction" in c.acl:
            c.flags.add("kTransaction")
        if not c.specs and c.first == 0:
            c.flags.add("kNoKey")
        if c.subs:
            c.flags.add("kHasSubcommands")

    def apply(table, flag):
        for name in sorted(table):
            target = by_name.get(name)
            if target is None:
                if name in OPTIONAL:
                    continue
                sys.exit("override %r (%s) names no command of this Redis" % (name, flag))
            for c in target.walk():  # a container's override covers its subcommands
                c.flags.add(flag)

    apply(ADMIN_EXTRA, "kAdmin")
    apply(NOPROXY, "kNoProxy")
    apply(BLOCKING_EXTRA, "kBlocking")
    apply(WRITE_EXTRA, "kWrite")
    for name in NEVER_ADMIN:
        c = by_name.get(name)
        if c is not None and "kAdmin" in c.flags:
            sys.exit("%r must not be admin (%s)" % (name, NEVER_ADMIN[name]))

    incomplete = sorted(c.name for c in by_name.values() if any(s.needs_getkeys() for s in c.specs))
    unhandled = [n for n in incomplete if n not in EMULATED_GETKEYS]
    if unhandled:
        sys.exit("commands with incomplete key specs not emulated in command_table.cpp: %s"
                 % ", ".join(unhandled))


# --- Output -------------------------------------------------------------------------------------
def ident(name):
    out = "".join(ch if ch.isalnum() else "_" for ch in name)
    return out


def cxx_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def flags_expr(flags):
    ordered = [f for f in FLAG_ORDER if f in flags]
    return " | ".join(ordered) if ordered else "0"


def render(version, commands):
    lines = [
        "// SPDX-License-Identifier: Apache-2.0",
        "// GENERATED by scripts/gen_command_table.py from the COMMAND reply of redis-server %s."
        % version,
        "// Do not edit: change the overrides in the script and regenerate.",
        "// Included by command_table.cpp inside namespace laminar::resp::(anonymous); entries are",
        "// sorted by name so lookups can binary-search.",
        "",
    ]
    seen = set()
    all_cmds = [c for top in commands for c in top.walk()]
    for c in all_cmds:
        i = ident(c.name)
        if i in seen:
            sys.exit("identifier clash for %r" % c.name)
        seen.add(i)

    def spec_line(s):
        begin = {"index": "kIndex", "keyword": "kKeyword", "unknown": "kUnknown"}[s.begin]
        find = {"range": "kRange", "keynum": "kKeynum", "unknown": "kUnknown"}[s.find]
        return ("    {.begin = KeySpec::Begin::%s, .index = %d, .keyword = %s, .startfrom = %d, "
                ".find = KeySpec::Find::%s, .lastkey = %d, .keystep = %d, .limit = %d, "
                ".keynumidx = %d, .firstkey = %d},  // %s"
                % (begin, s.index, cxx_string(s.keyword), s.startfrom, find, s.lastkey,
                   s.keystep, s.limit, s.keynumidx, s.firstkey, " ".join(s.flags)))

    for c in all_cmds:
        if c.specs:
            lines.append("constexpr KeySpec kSpecs_%s[] = {" % ident(c.name))
            lines.extend(spec_line(s) for s in c.specs)
            lines.append("};")
    lines.append("")

    def info_line(c):
        specs = "kSpecs_%s" % ident(c.name) if c.specs else "{}"
        subs = "kSubs_%s" % ident(c.name) if c.subs else "{}"
        return ("    {.name = %s, .arity = %d, .flags = %s, .first_key = %d, .last_key = %d, "
                ".step = %d, .key_specs = %s, .subcommands = %s},"
                % (cxx_string(c.name), c.arity, flags_expr(c.flags), c.first, c.last, c.step,
                   specs, subs))

    for top in commands:
        if top.subs:
            lines.append("constexpr CommandInfo kSubs_%s[] = {" % ident(top.name))
            lines.extend(info_line(s) for s in top.subs)
            lines.append("};")
    lines.append("")
    lines.append("constexpr CommandInfo kCommands[] = {")
    lines.extend(info_line(c) for c in commands)
    lines.append("};")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--output", default=OUTPUT_DEFAULT)
    ap.add_argument("--check", action="store_true",
                    help="do not write; exit 1 if --output differs from what would be generated")
    args = ap.parse_args()

    version, reply = fetch(args.redis_server)
    if int(version.split(".")[0]) < 7:
        sys.exit("redis-server %s has no key specs; need 7.0+" % version)
    if not version.startswith("7.0."):
        print("warning: laminar's table targets Redis 7.0, got %s" % version, file=sys.stderr)

    commands = sorted((Command(x) for x in reply), key=lambda c: c.name)
    if any(c.subs and any(s.subs for s in c.subs) for c in commands):
        sys.exit("nested subcommands are not supported")
    compute_flags(commands)
    text = render(version, commands)

    nsubs = sum(len(c.subs) for c in commands)
    if args.check:
        try:
            with open(args.output, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print("%s is stale; run %s" % (os.path.normpath(args.output), sys.argv[0]), file=sys.stderr)
            return 1
        print("%s is up to date (%d commands, %d subcommands)"
              % (os.path.normpath(args.output), len(commands), nsubs))
        return 0
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote %s: %d commands, %d subcommands (redis-server %s)"
          % (os.path.normpath(args.output), len(commands), nsubs, version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
