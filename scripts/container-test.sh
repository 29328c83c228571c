#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build docker/Dockerfile and check the image as a user would run it, then the compose demo of
# docker/ (docker/README.md). Exits non-zero, saying which check failed, on the first failure.
#
# With podman (Debian 12's, as root; docker instead where `docker info` answers):
#   - prepares podman: a containers.conf drop-in with `default_ulimits = []` (the default limits
#     cannot be set on some hosts) and the runtime runc; installs podman, buildah, runc,
#     podman-compose, debootstrap and redis-server when missing;
#   - makes the base images the Dockerfile names (debian:12, debian:12-slim) when they are missing,
#     from Debian's archive with `debootstrap --variant=minbase` (no image registry is needed);
#   - builds the image (`--format docker`: the OCI format has no HEALTHCHECK) and prints its size;
#   - checks that the runtime has every library `ldd laminar` asks for and no compiler or -dev
#     package, and that the image on its default configuration is healthy (with podman, also that
#     the check fails when LAMINAR_HEALTHZ names a closed port);
#   - runs laminar with host networking against two redis-servers it starts on free loopback
#     ports, with a configuration folder mounted at /etc/laminar: laminar is not root and is PID 1,
#     PING/SET/GET go through it to the first redis, the HEALTHCHECK passes, `kill -s HUP` after the
#     configuration routes to the second redis sends the next write there, `stop` lets a BLPOP in
#     flight get its reply and the container exits 0;
#   - starts docker/compose.yaml (podman-compose / docker compose) with redis and memcached images
#     built on the same Debian base, on free loopback ports: every service comes up healthy, and
#     writes through laminar reach the backends migration.yaml routes them to.
# Everything it started (containers by name, the compose project, redis-servers by PID) is removed
# at the end; the images stay, so a second run reuses their layers. The logs of a failed run stay
# in /tmp/laminar-container-test.*. scripts/test.sh runs it when CONTAINER=1.
#   scripts/container-test.sh
#   IMAGE=laminar:dev scripts/container-test.sh     the tag to build (default laminar:test)
#   ENGINE=docker scripts/container-test.sh         force the engine (podman or docker)
#   COMPOSE=0 scripts/container-test.sh             skip the compose demo
#   BUILD_TIMEOUT=3600                              seconds the image build may take (default 2700)
#   DEBIAN_MIRROR=http://deb.debian.org/debian      where debootstrap downloads from
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMAGE=${IMAGE:-laminar:test}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-2700}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
REDIS_IMAGE=laminar-demo-redis:test
MEMCACHED_IMAGE=laminar-demo-memcached:test
RUN_ID=$$
NAME=laminar-ct-$RUN_ID       # the single container
PROJECT=laminar-ct-$RUN_ID    # the compose project
START=$SECONDS

fail() {
    log "FAILED: $*"
    exit 1
}
ok() { log "ok: $*"; }

# --- the engine ---------------------------------------------------------------------------------
if [[ -z ${ENGINE:-} ]]; then
    ENGINE=podman
    command -v docker >/dev/null && docker info >/dev/null 2>&1 && ENGINE=docker
fi
case $ENGINE in
podman)
    ((EUID == 0)) || fail "podman is used as root here (run as root, or ENGINE=docker with a docker daemon)"
    PACKAGES=(podman buildah runc podman-compose debootstrap redis-server redis-tools curl iproute2)
    ;;
docker)
    PACKAGES=(redis-server redis-tools curl iproute2)
    ((EUID == 0)) && PACKAGES+=(debootstrap)
    ;;
*) fail "ENGINE must be podman or docker, not '$ENGINE'" ;;
esac
install_packages

if [[ $ENGINE == podman ]]; then
    # A drop-in rather than an edit of /etc/containers/containers.conf: podman reads
    # /etc/containers/containers.conf.d/*.conf after it. podman-compose runs podman without our
    # flags, so the runtime is set there too.
    CONF=/etc/containers/containers.conf.d/laminar-container-test.conf
    if [[ ! -e $CONF ]]; then
        mkdir -p "$(dirname "$CONF")"
        cat >"$CONF" <<'EOF'
# Written by laminar's scripts/container-test.sh. The default ulimits cannot be set where the
# container's hard limits are lower than podman's defaults; crun refuses hybrid cgroups.
[containers]
default_ulimits = []

[engine]
runtime = "runc"
EOF
        log "wrote $CONF (default_ulimits = [], runtime runc)"
    fi
    ENGINE_CMD=(podman --runtime runc)
    COMPOSE_CMD=(podman-compose)
    export BUILDAH_FORMAT=docker  # for any build podman-compose would start
else
    ENGINE_CMD=(docker)
    COMPOSE_CMD=(docker compose)
fi
CTR=(timeout 120 "${ENGINE_CMD[@]}")  # every call but the builds and imports, bounded

# --- what this run started, removed on exit -----------------------------------------------------
WORK=$(mktemp -d /tmp/laminar-container-test.XXXXXX)
REDIS_PIDS=()
CONTAINERS=()   # by name
COMPOSE_STARTED=0
cleanup() {
    local rc=$? pid c
    set +e
    for c in "${CONTAINERS[@]}"; do "${CTR[@]}" rm -f "$c" >/dev/null 2>&1; done
    if ((COMPOSE_STARTED)); then
        compose down >"$WORK/compose-down.log" 2>&1
        if [[ $ENGINE == podman ]]; then
            # podman-compose 1.0.3's down leaves the network; the containers again in case down
            # itself was cut short.
            for svc in old new cache laminar; do "${CTR[@]}" rm -f "${PROJECT}_${svc}_1" >/dev/null 2>&1; done
            "${CTR[@]}" network rm "${PROJECT}_default" >/dev/null 2>&1
        fi
    fi
    for pid in "${REDIS_PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
    if ((rc == 0)); then
        rm -rf "$WORK"
    else
        log "logs kept in $WORK"
    fi
    log "took $((SECONDS - START)) s"
}
trap cleanup EXIT

# free_port [TAKEN...]: a free TCP port on 127.0.0.1, none of TAKEN (chosen, not bound yet), below
# the ephemeral range so that no outgoing connection takes it meanwhile.
free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 12000))
        [[ " $* " == *" $p "* ]] && continue
        [[ -z $(ss -Htln "sport = :$p") ]] && ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && { echo "$p"; return 0; }
    done
    fail "no free port found"
}

# wait_for SECONDS COMMAND...: runs COMMAND every 0.2 s until it succeeds; 1 when time runs out.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

rcli() { timeout 10 redis-cli --no-raw -h 127.0.0.1 -p "$@"; }
# rget PORT KEY: the value, or nothing when the key is missing.
rget() { timeout 10 redis-cli --raw -h 127.0.0.1 -p "$1" GET "$2"; }
expect() {  # expect WHAT EXPECTED ACTUAL
    [[ $3 == "$2" ]] || fail "$1: expected '$2', got '$3'"
}

# healthy CONTAINER [SECONDS]: the image's (or the service's) health check passes.
healthy() {
    local c=$1 limit=${2:-60} deadline
    deadline=$((SECONDS + limit))
    while true; do
        if [[ $ENGINE == podman ]]; then
            # Without systemd podman runs no timer for the check: run it as the timer would.
            "${CTR[@]}" healthcheck run "$c" >/dev/null 2>&1 && return 0
        else
            [[ $(docker inspect -f '{{.State.Health.Status}}' "$c" 2>/dev/null) == healthy ]] && return 0
        fi
        ((SECONDS < deadline)) || return 1
        sleep 1
    done
}

# --- base images --------------------------------------------------------------------------------
# The names the Dockerfile builds FROM (not its own stages), made when missing: debian:12 is
# debootstrap's minbase tree; debian:12-slim the same without documentation, manual pages and
# locales, and with dpkg told to leave them out, as Debian's slim images are made.
prepare_base_images() {
    local names=() stages=() missing=() n
    while read -r n; do names+=("$n"); done < <(awk 'toupper($1) == "FROM" { for (i = 2; i <= NF; i++) if ($i !~ /^--/) { print $i; break } }' "$ROOT/docker/Dockerfile" | sort -u)
    while read -r n; do stages+=("$n"); done < <(awk 'toupper($1) == "FROM" && toupper($(NF-1)) == "AS" { print $NF }' "$ROOT/docker/Dockerfile")
    for n in "${names[@]}"; do
        [[ " ${stages[*]} " == *" $n "* ]] && continue
        "${CTR[@]}" image inspect "$n" >/dev/null 2>&1 || missing+=("$n")
    done
    ((${#missing[@]})) || return 0
    for n in "${missing[@]}"; do
        [[ $n =~ ^(docker\.io/)?(library/)?debian:(12|bookworm)(-slim)?$ ]] ||
            fail "base image $n is missing and only debian:12 / debian:12-slim can be made here (debootstrap)"
    done
    ((EUID == 0)) || fail "base images ${missing[*]} are missing; making them with debootstrap needs root"
    local dir=$WORK/rootfs
    log "making base images ${missing[*]} with debootstrap from $DEBIAN_MIRROR (about a minute)"
    timeout 1200 debootstrap --variant=minbase bookworm "$dir" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
        { tail -n 20 "$WORK/debootstrap.log" >&2; fail "debootstrap (log: $WORK/debootstrap.log)"; }
    # As Debian's images: bookworm, its updates and security; apt cleans up after itself; no
    # package files or lists left.
    rm -f "$dir/etc/apt/sources.list"
    cat >"$dir/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
// As Debian's images: apt leaves no package files or caches in a layer.
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$dir/etc/apt/apt.conf.d/docker-no-languages"
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/* "$dir"/var/log/*.log
    : >"$dir/etc/resolv.conf"
    local changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["bash"]')
    for n in "${missing[@]}"; do
        [[ $n == *-slim ]] && continue
        tar -C "$dir" -c . | timeout 600 "${ENGINE_CMD[@]}" import "${changes[@]}" - "$n" >"$WORK/import.log" 2>&1 || fail "import of $n (log: $WORK/import.log)"
        log "made base image $n"
    done
    cat >"$dir/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# As Debian's slim images: no documentation, manual pages or locales (copyright files stay).
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
    find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$dir"/usr/share/{man,groff,info,lintian,linda,locale}/*
    for n in "${missing[@]}"; do
        [[ $n == *-slim ]] || continue
        tar -C "$dir" -c . | timeout 600 "${ENGINE_CMD[@]}" import "${changes[@]}" - "$n" >"$WORK/import.log" 2>&1 || fail "import of $n (log: $WORK/import.log)"
        log "made base image $n"
    done
    rm -rf "$dir"
}

# build LOG ARGS...: an image build, bounded by BUILD_TIMEOUT; its output goes to LOG.
build_image() {
    local logf=$1
    shift
    local args=(build --network host) before=() rc=0 c
    if [[ $ENGINE == podman ]]; then
        args+=(--format docker --force-rm)
        mapfile -t before < <(buildah containers -q 2>/dev/null)
    fi
    timeout "$BUILD_TIMEOUT" "${ENGINE_CMD[@]}" "${args[@]}" "$@" >"$logf" 2>&1 || rc=$?
    ((rc == 0)) && return 0
    if [[ $ENGINE == podman ]]; then
        # A podman build cut short (the timeout) leaves its working containers: remove the ones
        # that appeared while it ran.
        for c in $(buildah containers -q 2>/dev/null); do
            [[ " ${before[*]} " == *" $c "* ]] || buildah rm "$c" >/dev/null 2>&1 || true
        done
    fi
    tail -n 40 "$logf" >&2
    ((rc != 124)) || fail "image build ($*) cut short after BUILD_TIMEOUT=${BUILD_TIMEOUT}s, log: $logf"
    fail "image build ($*), log: $logf"
}

prepare_base_images

# --- the image ----------------------------------------------------------------------------------
log "building $IMAGE from docker/Dockerfile with $ENGINE (7 to 11 min on 2 cores)"
t0=$SECONDS
build_image "$WORK/build.log" -f "$ROOT/docker/Dockerfile" -t "$IMAGE" "$ROOT"
ok "image $IMAGE built in $((SECONDS - t0)) s"

size=$("${CTR[@]}" image inspect -f '{{.Size}}' "$IMAGE")
size_mb=$(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1e6 }')  # MB as `podman images` shows them
log "image size: $IMAGE $size_mb MB ($size bytes)"
user=$("${CTR[@]}" image inspect -f '{{.Config.User}}' "$IMAGE")
[[ -n $user && $user != root && $user != 0 ]] || fail "the image's user is '${user:-root}', not a non-root user"
"${CTR[@]}" image inspect -f '{{json .Config.Healthcheck}}' "$IMAGE" | grep -q healthz ||
    fail "the image has no HEALTHCHECK (podman builds it only with --format docker)"
ok "image user is '$user', HEALTHCHECK present"

# The runtime stage: every library found, no compiler or build tool, no -dev package. Whatever
# this prints is a finding.
# shellcheck disable=SC2016  # expanded by the container's shell
out=$("${CTR[@]}" run --rm --network none --entrypoint bash "$IMAGE" -c '
    ldd /usr/local/bin/laminar | grep "not found"
    dpkg-query -W -f "\${Package}\n" | grep -E "^(gcc|g\+\+|cpp|clang|make|cmake|binutils)(-[0-9.]+)?$|-dev$"
    for tool in cc c++ gcc g++ clang ld as make cmake; do command -v "$tool"; done
    true' 2>"$WORK/runtime-check.log") || { cat "$WORK/runtime-check.log" >&2; fail "could not look into the runtime image"; }
[[ -z $out ]] || fail "runtime image: $out"
ok "runtime image: every library of ldd laminar is there, no compiler, no -dev package"

# run_container NAME ARGS...: `run -d`, removed at the end; podman's complaints that there is no
# systemd to run health checks on a timer go to a log (the checks are run by hand below).
run_container() {
    local c=$1
    shift
    CONTAINERS+=("$c")
    "${CTR[@]}" run -d --name "$c" "$@" >"$WORK/$c.run.log" 2>&1 || { cat "$WORK/$c.run.log" >&2; fail "$ENGINE run $c"; }
}
# The image as shipped, in a network of its own: laminar starts on its default configuration
# (config/laminar.yaml: metrics on 127.0.0.1:9121) and the HEALTHCHECK passes. With podman, the
# check must also fail when LAMINAR_HEALTHZ names a closed port, or it would prove nothing.
run_container "$NAME-default" --network none "$IMAGE"
healthy "$NAME-default" 30 || { "${CTR[@]}" logs "$NAME-default" 2>&1 | tail -n 20 >&2; fail "HEALTHCHECK of the image on its default configuration"; }
if [[ $ENGINE == podman ]]; then
    run_container "$NAME-closed" --network none -e LAMINAR_HEALTHZ=127.0.0.1:1 "$IMAGE"
    ! "${CTR[@]}" healthcheck run "$NAME-closed" >/dev/null 2>&1 || fail "the HEALTHCHECK passes against a closed port"
fi
"${CTR[@]}" rm -f "$NAME-default" "$NAME-closed" >/dev/null 2>&1 || true
ok "the image on its default configuration is healthy$([[ $ENGINE == podman ]] && echo ", and unhealthy with LAMINAR_HEALTHZ on a closed port")"

# --- one container, host networking, two redis-servers on the host -----------------------------
start_redis() {  # start_redis NAME PORT
    mkdir -p "$WORK/$1"
    redis-server --bind 127.0.0.1 --port "$2" --dir "$WORK/$1" --save "" --appendonly no --daemonize no >"$WORK/$1/redis.log" 2>&1 &
    REDIS_PIDS+=($!)
    wait_for 10 rcli "$2" PING || fail "redis-server $1 did not answer on 127.0.0.1:$2"
}
PA=$(free_port)
start_redis a "$PA"
PB=$(free_port)
start_redis b "$PB"
PL=$(free_port)
PM=$(free_port "$PL")

# write_config TARGET: the configuration folder mounted at /etc/laminar, every key routed to
# TARGET. Written beside and renamed over, as an editor saves.
CONFDIR=$WORK/etc-laminar
mkdir -p "$CONFDIR"
chmod 755 "$CONFDIR"  # the image's user laminar reads it
write_config() {
    cat >"$CONFDIR/.laminar.yaml.new" <<EOF
# scripts/container-test.sh: laminar with host networking, in front of two redis-servers.
listen: 127.0.0.1:$PL
threads: 1
admin: {metrics: 127.0.0.1:$PM}
backends:
  a: {type: redis, address: 127.0.0.1:$PA}
  b: {type: redis, address: 127.0.0.1:$PB}
routes:
  - name: default
    strategy: {type: proxy, target: $1}
EOF
    chmod 644 "$CONFDIR/.laminar.yaml.new"
    mv -f "$CONFDIR/.laminar.yaml.new" "$CONFDIR/laminar.yaml"
}
write_config a
"${CTR[@]}" run --rm --network none -v "$CONFDIR:/etc/laminar:ro" "$IMAGE" --check-config /etc/laminar/laminar.yaml >"$WORK/check-config.log" 2>&1 ||
    { cat "$WORK/check-config.log" >&2; fail "laminar --check-config of the mounted configuration"; }

log "running $NAME: laminar on 127.0.0.1:$PL (metrics $PM), redis a on $PA, b on $PB"
run_container "$NAME" --network host -v "$CONFDIR:/etc/laminar:ro" -e "LAMINAR_HEALTHZ=127.0.0.1:$PM" "$IMAGE"
clogs() { "${CTR[@]}" logs "$NAME" 2>&1; }
wait_for 30 rcli "$PL" PING || { clogs | tail -n 20 >&2; fail "no PONG through laminar on 127.0.0.1:$PL within 30 s"; }

# Non-root: the container's user, and the uid the kernel shows for laminar's process, which is
# PID 1 in the container's PID namespace (the last NSpid), so signals reach it.
cuser=$("${CTR[@]}" exec "$NAME" id -un)
pid=$("${CTR[@]}" inspect -f '{{.State.Pid}}' "$NAME")
comm=$(cat "/proc/$pid/comm")
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
nspid=$(awk '/^NSpid:/ { print $NF }' "/proc/$pid/status")
[[ $comm == laminar && $uid != 0 && $cuser != root && $nspid == 1 ]] ||
    fail "laminar runs as uid $uid ($cuser), process '$comm', PID $nspid in the container"
ok "laminar is PID 1 of the container as user $cuser (uid $uid on the host, pid $pid)"

expect "PING through laminar" PONG "$(rcli "$PL" PING)"
expect "SET through laminar" OK "$(rcli "$PL" SET ct:greeting hello)"
expect "GET through laminar" hello "$(rget "$PL" ct:greeting)"
expect "the key on redis a" hello "$(rget "$PA" ct:greeting)"
ok "PING, SET, GET through laminar; the key is on redis a"

healthy "$NAME" 30 || fail "HEALTHCHECK of $NAME"
ok "HEALTHCHECK passes ($([[ $ENGINE == podman ]] && echo "podman healthcheck run" || echo "docker inspect: healthy"))"

# Reload: the default route moves to redis b.
gen() { rcli "$PL" INFO laminar | tr -d '\r' | awk -F: '$1 == "config_generation" { print $2 }'; }
gen0=$(gen)
[[ -n $gen0 ]] || fail "INFO laminar has no config_generation"
write_config b
"${CTR[@]}" kill -s HUP "$NAME" >/dev/null || fail "$ENGINE kill -s HUP"
gen_changed() { [[ $(gen) != "$gen0" ]]; }
wait_for 15 gen_changed || { clogs | tail -n 20 >&2; fail "config_generation still $gen0 15 s after kill -s HUP"; }
clogs | grep -q "reloaded" || { clogs | tail -n 20 >&2; fail "no 'reloaded' in the container's log"; }
expect "SET after the reload" OK "$(rcli "$PL" SET ct:after-reload moved)"
expect "the key on redis b" moved "$(rget "$PB" ct:after-reload)"
expect "the key not on redis a" "" "$(rget "$PA" ct:after-reload)"
ok "kill -s HUP reloaded the mounted configuration (generation $gen0 -> $(gen)); the next write went to redis b"

# Stop: SIGTERM with a BLPOP in flight (now routed to b). laminar drains: the BLPOP gets the value
# pushed to b while laminar is shutting down, then the container exits 0.
rcli "$PL" BLPOP ct:drain 20 >"$WORK/blpop.out" 2>&1 &
blpop=$!
blocked() { rcli "$PB" INFO clients | tr -d '\r' | grep -qx 'blocked_clients:1'; }
wait_for 10 blocked || fail "the BLPOP through laminar did not block on redis b"
t0=$SECONDS
"${CTR[@]}" stop -t 30 "$NAME" >/dev/null 2>&1 &
stopper=$!
shutting_down() { clogs | grep -q "shutting down"; }
wait_for 10 shutting_down || { clogs | tail -n 20 >&2; fail "no 'shutting down' in the log 10 s after $ENGINE stop"; }
rcli "$PB" RPUSH ct:drain drained >/dev/null
wait "$stopper" || fail "$ENGINE stop"
wait "$blpop" || true
code=$("${CTR[@]}" inspect -f '{{.State.ExitCode}}' "$NAME")
expect "the container's exit code after $ENGINE stop" 0 "$code"
grep -q drained "$WORK/blpop.out" || fail "the BLPOP in flight at SIGTERM got no reply: $(cat "$WORK/blpop.out")"
ok "$ENGINE stop: the BLPOP in flight got its reply, laminar exited 0 after $((SECONDS - t0)) s"
"${CTR[@]}" rm -f "$NAME" >/dev/null 2>&1

# --- the compose demo ---------------------------------------------------------------------------
compose() {
    REDIS_IMAGE=$REDIS_IMAGE MEMCACHED_IMAGE=$MEMCACHED_IMAGE LAMINAR_IMAGE=$IMAGE \
        LAMINAR_PORT=$CP LAMINAR_METRICS_PORT=$CM \
        timeout 300 "${COMPOSE_CMD[@]}" -p "$PROJECT" -f "$ROOT/docker/compose.yaml" "$@"
}
service() {  # the container of a compose service
    if [[ $ENGINE == podman ]]; then echo "${PROJECT}_$1_1"; else compose ps -q "$1"; fi
}
if [[ ${COMPOSE:-1} == 1 ]]; then
    # redis and memcached images as the official ones behave (every interface, no protected mode,
    # not root), from the same Debian base: no registry is needed.
    mkdir -p "$WORK/demo"
    cat >"$WORK/demo/Dockerfile" <<'EOF'
FROM debian:12-slim AS redis
RUN apt-get update -q && apt-get install -y -q --no-install-recommends redis-server && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /var/lib/redis
USER redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no", "--save", "", "--appendonly", "no"]

FROM debian:12-slim AS memcached
RUN apt-get update -q && apt-get install -y -q --no-install-recommends memcached && apt-get clean && rm -rf /var/lib/apt/lists/*
USER memcache
EXPOSE 11211
CMD ["memcached"]
EOF
    log "building the demo's backend images $REDIS_IMAGE and $MEMCACHED_IMAGE"
    build_image "$WORK/demo/redis.log" --target redis -t "$REDIS_IMAGE" "$WORK/demo"
    build_image "$WORK/demo/memcached.log" --target memcached -t "$MEMCACHED_IMAGE" "$WORK/demo"

    CP=$(free_port)
    CM=$(free_port "$CP")
    log "compose project $PROJECT: laminar on 127.0.0.1:$CP (metrics $CM)"
    COMPOSE_STARTED=1
    compose up -d >"$WORK/compose-up.log" 2>&1 || { tail -n 30 "$WORK/compose-up.log" >&2; fail "compose up"; }
    for svc in old new cache laminar; do
        c=$(service "$svc")
        [[ $("${CTR[@]}" inspect -f '{{.State.Running}}' "$c" 2>/dev/null) == true ]] || fail "compose service $svc is not running"
    done
    for svc in old new laminar; do
        healthy "$(service "$svc")" 60 || { "${CTR[@]}" logs "$(service "$svc")" 2>&1 | tail -n 20 >&2; fail "compose service $svc is not healthy"; }
    done
    ok "compose: old, new, cache, laminar running; old, new, laminar healthy"
    wait_for 30 rcli "$CP" PING || fail "no PONG through the compose laminar on 127.0.0.1:$CP"
    metrics() { curl -fsS "http://127.0.0.1:$CM/metrics" | grep -q laminar_; }
    wait_for 10 metrics || fail "no /metrics published on 127.0.0.1:$CM"

    # migration.yaml: session:* dual-written (old and new, read from old), page:* written to new
    # (dual_lookup, writes: first), everything else to old alone.
    backend_get() { "${CTR[@]}" exec "$(service "$1")" redis-cli --raw GET "$2" | tr -d '\r'; }
    expect "compose: SET session:ct" OK "$(rcli "$CP" SET session:ct s1)"
    expect "compose: SET page:ct" OK "$(rcli "$CP" SET page:ct p1)"
    expect "compose: SET other:ct" OK "$(rcli "$CP" SET other:ct o1)"
    expect "compose: session:ct on old" s1 "$(backend_get old session:ct)"
    expect "compose: session:ct on new" s1 "$(backend_get new session:ct)"
    expect "compose: page:ct on new" p1 "$(backend_get new page:ct)"
    expect "compose: page:ct not on old" "" "$(backend_get old page:ct)"
    expect "compose: other:ct on old" o1 "$(backend_get old other:ct)"
    expect "compose: other:ct not on new" "" "$(backend_get new other:ct)"
    expect "compose: GET page:ct through laminar" p1 "$(rget "$CP" page:ct)"
    ok "compose: session:* written to old and new, page:* to new, other keys to old"

    compose down >"$WORK/compose-down.log" 2>&1 || fail "compose down"
    for svc in old new cache laminar; do
        c=$(service "$svc")
        [[ -z $c ]] || ! "${CTR[@]}" inspect "$c" >/dev/null 2>&1 || fail "compose down left $c"
    done
    [[ $ENGINE == podman ]] && { "${CTR[@]}" network rm "${PROJECT}_default" >/dev/null 2>&1 || true; }
    COMPOSE_STARTED=0
    ok "compose down"
fi

log "image size: $IMAGE $size_mb MB"
log "container test passed"
