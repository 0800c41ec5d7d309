#!/usr/bin/env bash
# bench/lazy_bench.sh — figures of the lazy pull from the Hugging Face Hub, beside the peers
# that read the same file over HTTP from the same nginx, in one run:
#
#   curl       : plain `curl` of the file from nginx (baseline)
#   curl-hub   : `curl -L` of the Hub resolve URL (tests/sims/hf_hub_sim.py, which 302-redirects
#                the LFS file to nginx, like the Hub redirects to its CDN)
#   rclone     : `rclone mount :http:` on nginx, --vfs-cache-mode full
#   httpdirfs  : httpdirfs --cache on nginx
#   modelfs    : `modelfs models pull hf://bench/model` (registers without fetching), then
#                `modelfs mount`; the daemon fetches from the Hub (HF_ENDPOINT) lazily
#
# Every measurement is cold on the reading side: a fresh mount (fresh empty store / cache dir),
# then `sync; echo 3 > /proc/sys/vm/drop_caches`, then the read (nginx's file stays in RAM, see
# SERVE).
#   cold seq   : `cat FILE > /dev/null`, MB/s (10^6 B/s); "fetched" = body bytes nginx sent for
#                the file (its access log, $body_bytes_sent) / file size
#   ttfb       : open + read of the first 4 KiB, timed inside one python3 process (no process
#                start-up in the figure); curl rows: curl's own %{time_total}
#   4 KiB @ X  : `stat` (untimed), then open + pread of 4 KiB at 1.5 GiB (75 % of the file when
#                it is smaller); fetched = nginx body bytes, counted 2 s later after unmounting
#                (so asynchronous read-ahead is included)
#   rss        : daemon VmHWM right after the cold sequential read
#   32 readers : (modelfs) 32 `cat FILE` started together on a fresh store; nginx bytes / size
#   4 files    : (modelfs) bench/shards, 4 different files of SIZE/4 each, read by 4 `cat`s at
#                once on a fresh store: MB/s (SIZE / wall) and daemon VmHWM (how memory grows
#                with the number of files read at once); content checked with cmp
#   pull       : (modelfs) `modelfs models pull` of bench/model (must fetch nothing) and of
#                bench/many (100 small files), wall clock of the command
#
# Usage: bench/lazy_bench.sh [SIZE_MIB=2048]        (root; Debian 12; builds nothing)
# Env:   MODELFS=build/tools/modelfs  RUNS=1 (medians over runs)  BENCH_DIR=/tmp (work dir parent)
#        ONLY="curl curl-hub rclone httpdirfs modelfs"  KEEP=1 (keep the work dir)
#        READ_TIMEOUT=600 (s, per read)  INSTALL=1 (apt-get install nginx rclone httpdirfs)
#        SERVE=shm (nginx's file in /dev/shm) or disk (in the work dir)
#        PRIME=1 (SERVE=disk: read the source once first, so the host's cache of the VM disk is warm)
# Only 127.0.0.1 is contacted (apart from apt-get for missing packages).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
SIZE_MIB=${1:-2048}
[[ $SIZE_MIB =~ ^[0-9]+$ && $SIZE_MIB -ge 4 ]] || { echo "usage: $0 [SIZE_MIB>=4]" >&2; exit 2; }
[[ $EUID == 0 ]] || { echo "run as root (FUSE mounts, drop_caches)" >&2; exit 2; }
MODELFS=${MODELFS:-$REPO/build/tools/modelfs}
[[ $MODELFS == /* ]] || MODELFS=$REPO/$MODELFS
SIM=${HF_SIM:-$REPO/tests/sims/hf_hub_sim.py}
RUNS=${RUNS:-1}
ONLY=${ONLY:-"curl curl-hub rclone httpdirfs modelfs"}
READ_TIMEOUT=${READ_TIMEOUT:-600}
SIZE=$((SIZE_MIB << 20))
RAND_OFF_MIB=$((SIZE_MIB * 3 / 4)); ((RAND_OFF_MIB > 1536)) && RAND_OFF_MIB=1536
RAND_OFF=$((RAND_OFF_MIB << 20))

# Loopback only: no proxy may see our requests; no token goes to the simulator.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY HF_TOKEN \
  HUGGING_FACE_HUB_TOKEN HF_HUB_OFFLINE HF_HUB_ENABLE_HF_TRANSFER
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
NOTES=()
note() { log "NOTE: $*"; NOTES+=("$*"); }
want() { [[ " $ONLY " == *" $1 "* ]]; }
die() { log "FATAL: $*"; exit 1; }

# ------------------------------------------------------------------ tools ---
if [[ ${INSTALL:-1} == 1 ]]; then
  missing=()
  for b in nginx:nginx rclone:rclone httpdirfs:httpdirfs fusermount3:fuse3 curl:curl python3:python3 pgrep:procps; do
    command -v "${b%%:*}" >/dev/null 2>&1 || missing+=("${b#*:}")
  done
  if ((${#missing[@]})); then
    log "installing: ${missing[*]}"
    apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
      note "apt-get install ${missing[*]} failed"
  fi
fi
command -v nginx >/dev/null || die "nginx is missing"
command -v python3 >/dev/null || die "python3 is missing"
for t in rclone httpdirfs; do
  want "$t" && ! command -v "$t" >/dev/null && { note "$t missing: skipped"; ONLY=${ONLY//$t/}; }
done

# ------------------------------------------------------- work dir, cleanup ---
mkdir -p "${BENCH_DIR:-/tmp}"
W=$(mktemp -d "${BENCH_DIR:-/tmp}/lazy-bench.XXXXXX") || die "mktemp failed"
# The file nginx serves (and the Hub simulator's repos, hard links of it): in RAM by default, so
# every reader meets the same fast server and the figures measure the readers (as in the peers'
# baseline, where curl read at 2.8 GB/s); SERVE=disk puts them in the work dir instead.
SERVE=${SERVE:-shm}
SRV=$W
if [[ $SERVE == shm ]]; then SRV=$(mktemp -d /dev/shm/lazy-bench.XXXXXX) || die "mktemp in /dev/shm failed"; fi
WWW=$SRV/www; LOGS=$W/logs; MNT=$W/mnt
mkdir -p "$WWW" "$LOGS" "$MNT" "$W/cache" "$W/stores" "$W/nginx"
ACCESS=$W/nginx/access.log
NGINX_PID=; SIM_PID=
declare -A MPID=()    # mountpoint -> daemon pid (started by us)
declare -A MSTORE=()  # mountpoint -> modelfs store (modelfs mounts only)

unmount_one() {  # MOUNTPOINT: unmount it and reap its daemon (by pid)
  local mp=$1 pid=${MPID[$1]:-} store=${MSTORE[$1]:-} i
  if mountpoint -q "$mp" 2>/dev/null; then
    [[ -n $store ]] && timeout 30 "$MODELFS" --home "$store" umount "$mp" >/dev/null 2>&1
    mountpoint -q "$mp" 2>/dev/null && { fusermount3 -u "$mp" 2>/dev/null || umount "$mp" 2>/dev/null ||
      fusermount3 -uz "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null; }
  fi
  if [[ -n $pid ]]; then
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null; sleep 1; kill -9 "$pid" 2>/dev/null; fi
    wait "$pid" 2>/dev/null
  fi
  unset "MPID[$mp]" "MSTORE[$mp]"
}
stop_pid() {  # PID SIGNAL: stop a server we started, wait for it
  local pid=$1 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -"$2" "$pid" 2>/dev/null
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}
cleanup() {
  local rc=$? m
  trap - EXIT INT TERM
  for m in "${!MPID[@]}"; do unmount_one "$m"; done
  for m in "$MNT"/*; do [[ -d $m ]] && mountpoint -q "$m" && unmount_one "$m"; done
  stop_pid "$SIM_PID" TERM
  stop_pid "$NGINX_PID" QUIT
  [[ $SRV != "$W" ]] && rm -rf "$SRV"
  if [[ ${KEEP:-0} == 1 ]]; then log "work dir kept: $W"; else rm -rf "$W"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ------------------------------------------------------------------- data ---
log "creating $SIZE_MIB MiB of random bytes"
SRC=$WWW/model.safetensors
head -c "$SIZE" /dev/urandom > "$SRC" || die "cannot write $SRC"
printf '%s\n' '{"architectures":["BenchForCausalLM"],"hidden_size":4096,"num_hidden_layers":32,"vocab_size":32000,"torch_dtype":"bfloat16"}' > "$WWW/config.json"
# Hub repos (tests/sims/hf_hub_sim.py layout: DIR/<org>/<name>/<revision>/<files>). The big file
# is a hard link of the one nginx serves; *.safetensors is LFS, config.json a plain git file.
REPOS=$SRV/repos
mkdir -p "$REPOS/bench/model/main" "$REPOS/bench/many/main" "$REPOS/bench/shards/main"
ln "$SRC" "$REPOS/bench/model/main/model.safetensors" || die "cannot hard-link $SRC"
cp "$WWW/config.json" "$REPOS/bench/model/main/config.json"
for i in 1 2 3 4; do
  head -c "$((SIZE / 4))" /dev/urandom > "$REPOS/bench/shards/main/shard-$i.safetensors" || die "cannot write shard $i"
done
for i in $(seq -w 0 99); do
  printf '{"shard": %d, "note": "small file %s of bench/many"}\n' "$((10#$i))" "$i" > "$REPOS/bench/many/main/part-$i.json"
done

# ------------------------------------------------------------------ nginx ---
NPORT=$(free_port)
NGINX_URL=http://127.0.0.1:$NPORT
cat > "$W/nginx/nginx.conf" <<EOF
user root;
worker_processes 2;
daemon off;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 1024; }
http {
  log_format bench '\$status \$body_bytes_sent \$bytes_sent \$request_method \$uri "\$http_range" \$request_time';
  access_log $ACCESS bench;
  client_body_temp_path $W/nginx/body;
  proxy_temp_path $W/nginx/proxy;
  fastcgi_temp_path $W/nginx/fastcgi;
  uwsgi_temp_path $W/nginx/uwsgi;
  scgi_temp_path $W/nginx/scgi;
  types { application/json json; text/html html; }
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 100000;
  keepalive_timeout 60;
  server {
    listen 127.0.0.1:$NPORT;
    root $WWW;
    disable_symlinks off;
    location / { autoindex on; }
  }
}
EOF
nginx -q -t -e "$W/nginx/error.log" -c "$W/nginx/nginx.conf" -p "$W/nginx" 2>"$LOGS/nginx-t.log" ||
  { cat "$LOGS/nginx-t.log" >&2; die "bad nginx config"; }
nginx -e "$W/nginx/error.log" -c "$W/nginx/nginx.conf" -p "$W/nginx" > "$LOGS/nginx.out" 2>&1 &
NGINX_PID=$!
for _ in $(seq 100); do curl -sf -o /dev/null "$NGINX_URL/config.json" && break; sleep 0.05; done
curl -sf -o /dev/null "$NGINX_URL/config.json" || die "nginx did not start (see $W/nginx/error.log)"

# -------------------------------------------------------------- Hub sim ---
# --cdn-base: LFS resolve answers 302 to $NGINX_URL/<repo_id>/<sha256>?f=..&exp=..&sig=..;
# --layout-cdn hard-links each LFS blob to $WWW/<repo_id>/<sha256> so nginx serves it (nginx
# ignores the query string). Same inode as $SRC: every method reads the same bytes from disk.
log "starting the Hub simulator (hashes the file)"
"python3" "$SIM" --repos-dir "$REPOS" --port 0 --port-file "$W/sim.json" --cdn-base "$NGINX_URL" \
  --layout-cdn "$WWW" --link-mode hardlink > "$LOGS/sim.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 6000); do
  [[ -s $W/sim.json ]] && break
  kill -0 "$SIM_PID" 2>/dev/null || { cat "$LOGS/sim.log" >&2; die "the Hub simulator exited"; }
  sleep 0.1
done
[[ -s $W/sim.json ]] || die "the Hub simulator did not start"
HF_ENDPOINT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$W/sim.json")
export HF_ENDPOINT
SHA=$(ls "$WWW/bench/model")
[[ $SHA =~ ^[0-9a-f]{64}$ ]] || die "no CDN layout in $WWW/bench/model"
HUB_URL=$HF_ENDPOINT/bench/model/resolve/main/model.safetensors
loc=$(curl -s -o /dev/null -w '%{redirect_url}' "$HUB_URL")
[[ $loc == "$NGINX_URL/bench/model/$SHA?"* ]] || die "resolve does not redirect to nginx: '$loc'"
[[ $(curl -s -r 0-15 "$loc" | od -An -tx1) == $(head -c 16 "$SRC" | od -An -tx1) ]] ||
  die "nginx does not serve the blob at $loc"
log "nginx $NGINX_URL, hub $HF_ENDPOINT, file $SIZE_MIB MiB (sha256 ${SHA:0:12}…)"

# ---------------------------------------------------------------- helpers ---
# drop_caches also evicts the readers (cat, curl, python3) and the servers' code (nginx, the
# simulator): page them back in (config.json from nginx, a HEAD of the LFS resolve URL, which
# nginx does not see) so that only the file's data and the FUSE daemons are cold.
drop_caches() {
  sync; echo 3 > /proc/sys/vm/drop_caches
  cat /etc/hostname > /dev/null; timeout 5 true; stat / > /dev/null; python3 -c pass
  dd if=/etc/hostname of=/dev/null bs=4096 count=1 status=none
  curl -s -o /dev/null "$NGINX_URL/config.json"
  curl -s -o /dev/null -I "$HUB_URL"
}
mark() { stat -c %s "$ACCESS"; }
served() {  # MARK -> "body_bytes requests" nginx sent for the big file since MARK
  tail -c +$(($1 + 1)) "$ACCESS" | awk -v a=/model.safetensors -v b="/bench/model/$SHA" \
    '$5 == a || $5 == b { s += $2; n++ } END { printf "%d %d\n", s, n }'
}
rss_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
# python3 reader: open + pread N bytes at OFF, timed in-process (ms); checks the bytes against SRC.
cat > "$W/rd.py" <<'PY'
import os, signal, sys, time
path, off, n, src, to = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
signal.alarm(to)
if len(sys.argv) > 6:
    os.stat(path)                      # untimed lookup
t0 = time.perf_counter()
fd = os.open(path, os.O_RDONLY)
buf = b""
while len(buf) < n:
    b = os.pread(fd, n - len(buf), off + len(buf))
    if not b:
        break
    buf += b
t1 = time.perf_counter()
os.close(fd)
with open(src, "rb") as f:
    f.seek(off)
    ok = f.read(n) == buf
print("%.3f %s" % ((t1 - t0) * 1000, "ok" if ok else "BAD"))
PY
T=0
timeit() {  # CMD...: run with stdout discarded; seconds in T
  local t0=$EPOCHREALTIME rc
  timeout "$READ_TIMEOUT" "$@" > /dev/null 2>> "$LOGS/readers.err"; rc=$?
  T=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }')
  return $rc
}
declare -A R=()
rec() { R[$1,$2]="${R[$1,$2]:-} $3"; }
wait_mount() {  # MP PID: wait for the mount table only (no lookup before the timed reads)
  local i
  for i in $(seq 300); do
    mountpoint -q "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# --------------------------------------------------------------- mounters ---
# mount_<method>: fresh daemon, empty cache; sets F (the file) and MP.
mount_rclone() {
  MP=$MNT/rclone; local c=$W/cache/rclone
  unmount_one "$MP"; rm -rf "$c"; mkdir -p "$c" "$MP"; : > "$W/rclone.conf"
  RCLONE_CONFIG=$W/rclone.conf rclone mount :http: "$MP" --http-url "$NGINX_URL/" \
    --vfs-cache-mode full --cache-dir "$c" --read-only >> "$LOGS/rclone.log" 2>&1 &
  MPID[$MP]=$!
  F=$MP/model.safetensors
  wait_mount "$MP" "${MPID[$MP]}" || { tail -5 "$LOGS/rclone.log" >&2; unmount_one "$MP"; return 1; }
}
mount_httpdirfs() {
  # --no-range-check: httpdirfs 1.2.5 wants Accept-Ranges on 206 replies; nginx sends it on 200 only.
  MP=$MNT/httpdirfs; local c=$W/cache/httpdirfs
  unmount_one "$MP"; rm -rf "$c"; mkdir -p "$c" "$MP"
  httpdirfs -f --no-range-check --cache --cache-location "$c" "$NGINX_URL/" "$MP" >> "$LOGS/httpdirfs.log" 2>&1 &
  MPID[$MP]=$!
  F=$MP/model.safetensors
  wait_mount "$MP" "${MPID[$MP]}" || { tail -5 "$LOGS/httpdirfs.log" >&2; unmount_one "$MP"; return 1; }
}
NSTORE=0
mount_modelfs() {  # [REPO=bench/model]: fresh store, pull (timed for bench/model, must fetch nothing), mount
  local repo=${1:-bench/model}
  MP=$MNT/modelfs
  unmount_one "$MP"; rm -rf "$W/stores"/*; mkdir -p "$MP"
  local store=$W/stores/s$((++NSTORE)) m t0 out
  m=$(mark); t0=$EPOCHREALTIME
  out=$("$MODELFS" --home "$store" models pull "hf://$repo" 2>&1) ||
    { echo "$out" >&2; note "modelfs: pull hf://$repo failed: ${out##*$'\n'}"; return 1; }
  if [[ $repo == bench/model ]]; then
    rec modelfs pull_s "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }')"
    sleep 0.2; rec modelfs pull_b "$(served "$m" | cut -d' ' -f1)"
  fi
  [[ -n ${MTAG:-} ]] || { MTAG=$(grep -o 'tag="[^"]*"' <<<"$out" | head -1); log "pull: $out"; }
  out=$("$MODELFS" --home "$store" mount "$MP" 2>&1) ||
    { echo "$out" >&2; tail -5 "$store/mount.log" >&2 2>/dev/null; note "modelfs: mount failed: $out"; return 1; }
  MSTORE[$MP]=$store
  MPID[$MP]=$(pgrep -n -f -- "--home $store mount")
  [[ -n ${MPID[$MP]} ]] || note "modelfs: daemon pid not found (no RSS figure)"
  F=$MP/models/bench--model/latest/model.safetensors
  mountpoint -q "$MP" || { note "modelfs: $MP is not mounted after 'modelfs mount'"; return 1; }
}

# ---------------------------------------------------------- measurements ---
bench_fuse() {  # METHOD: ttfb, 4 KiB at RAND_OFF, cold sequential (+ rss), each on a fresh mount
  local m=$1 r b0 out pid
  for r in $(seq "$RUNS"); do
    mount_"$m" || { note "$m: mount failed"; return 1; }
    drop_caches; b0=$(mark)
    if out=$(timeout "$READ_TIMEOUT" python3 "$W/rd.py" "$F" 0 4096 "$SRC" "$READ_TIMEOUT" 2>>"$LOGS/readers.err"); then
      rec "$m" ttfb_ms "${out% *}"; [[ ${out#* } == ok ]] || note "$m: WRONG BYTES in the first 4 KiB"
    else note "$m: first 4 KiB read failed"; fi
    sleep 2; unmount_one "$MP"; sleep 0.3; rec "$m" ttfb_b "$(served "$b0" | cut -d' ' -f1)"

    mount_"$m" || { note "$m: mount failed"; return 1; }
    drop_caches; stat "$F" > /dev/null; b0=$(mark)
    if out=$(timeout "$READ_TIMEOUT" python3 "$W/rd.py" "$F" "$RAND_OFF" 4096 "$SRC" "$READ_TIMEOUT" stat 2>>"$LOGS/readers.err"); then
      rec "$m" rand_ms "${out% *}"; [[ ${out#* } == ok ]] || note "$m: WRONG BYTES at offset $RAND_OFF"
    else note "$m: 4 KiB read at $RAND_OFF failed"; fi
    sleep 2; unmount_one "$MP"; sleep 0.3; rec "$m" rand_b "$(served "$b0" | cut -d' ' -f1)"

    mount_"$m" || { note "$m: mount failed"; return 1; }
    pid=${MPID[$MP]:-}
    drop_caches; b0=$(mark)
    if timeit cat "$F"; then rec "$m" seq_s "$T"; else note "$m: cold sequential read failed"; fi
    [[ -n $pid ]] && rec "$m" rss_kb "$(rss_kb "$pid")"
    sleep 0.5; out=$(served "$b0"); rec "$m" seq_b "${out% *}"; rec "$m" seq_n "${out#* }"
    if ((r == 1)); then
      if cmp -s "$F" "$SRC"; then R[$m,verify]=ok; else R[$m,verify]=BAD; note "$m: CONTENT MISMATCH"; fi
    fi
    unmount_one "$MP"
  done
  rm -rf "$W/cache/$m" "$W/stores"/*
}

bench_curl() {  # METHOD URL [curl options]
  local m=$1 url=$2 r b0 out; shift 2
  for r in $(seq "$RUNS"); do
    drop_caches; b0=$(mark)
    out=$(curl -sf "$@" -o /dev/null -r 0-4095 -w '%{time_total}' "$url") && rec "$m" ttfb_ms "$(awk -v t="$out" 'BEGIN { printf "%.3f", t * 1000 }')" ||
      note "$m: first 4 KiB failed"
    sleep 0.3; rec "$m" ttfb_b "$(served "$b0" | cut -d' ' -f1)"
    drop_caches; b0=$(mark)
    out=$(curl -sf "$@" -o /dev/null -r "$RAND_OFF-$((RAND_OFF + 4095))" -w '%{time_total}' "$url") &&
      rec "$m" rand_ms "$(awk -v t="$out" 'BEGIN { printf "%.3f", t * 1000 }')" || note "$m: 4 KiB at $RAND_OFF failed"
    sleep 0.3; rec "$m" rand_b "$(served "$b0" | cut -d' ' -f1)"
    drop_caches; b0=$(mark)
    out=$(timeout "$READ_TIMEOUT" curl -sf "$@" -o /dev/null -w '%{time_total} %{size_download}' "$url") &&
      [[ ${out#* } == "$SIZE" ]] && rec "$m" seq_s "${out% *}" || note "$m: cold sequential download failed ($out)"
    sleep 0.3; out=$(served "$b0"); rec "$m" seq_b "${out% *}"; rec "$m" seq_n "${out#* }"
  done
}

bench_modelfs_extra() {
  local r b0 i pids t0 out
  for r in $(seq "$RUNS"); do
    # 32 concurrent readers of one cold file
    mount_modelfs || return 1
    drop_caches; b0=$(mark); pids=(); t0=$EPOCHREALTIME
    for i in $(seq 32); do timeout "$READ_TIMEOUT" cat "$F" > /dev/null 2>> "$LOGS/readers.err" & pids+=($!); done
    local bad=0; for i in "${pids[@]}"; do wait "$i" || bad=$((bad + 1)); done
    rec modelfs r32_s "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }')"
    ((bad)) && note "modelfs: $bad of 32 concurrent readers failed"
    sleep 0.5; out=$(served "$b0"); rec modelfs r32_b "${out% *}"; rec modelfs r32_n "${out#* }"
    unmount_one "$MP"; rm -rf "$W/stores"/*
    # 4 different cold files read at once: the daemon's memory with several files
    mount_modelfs bench/shards || return 1
    local dir=$MP/models/bench--shards/latest
    drop_caches; pids=(); t0=$EPOCHREALTIME
    for i in 1 2 3 4; do timeout "$READ_TIMEOUT" cat "$dir/shard-$i.safetensors" > /dev/null 2>> "$LOGS/readers.err" & pids+=($!); done
    bad=0; for i in "${pids[@]}"; do wait "$i" || bad=$((bad + 1)); done
    rec modelfs f4_s "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }')"
    [[ -n ${MPID[$MP]:-} ]] && rec modelfs f4_rss "$(rss_kb "${MPID[$MP]}")"
    ((bad)) && note "modelfs: $bad of 4 shard readers failed"
    if ((r == 1)); then
      for i in 1 2 3 4; do
        cmp -s "$dir/shard-$i.safetensors" "$REPOS/bench/shards/main/shard-$i.safetensors" ||
          note "modelfs: CONTENT MISMATCH in shard $i"
      done
    fi
    unmount_one "$MP"; rm -rf "$W/stores"/*
    # registration of a 100-file repo (no mount: the command opens the store itself)
    local store=$W/stores/many$r
    b0=$(mark); t0=$EPOCHREALTIME
    if out=$("$MODELFS" --home "$store" models pull hf://bench/many 2>&1); then
      rec modelfs reg_s "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }')"
      ((r == 1)) && log "pull: $out"
      n=$("$MODELFS" --home "$store" models files bench--many 2>/dev/null | grep -c 'part-')
      [[ $n == 100 ]] || note "modelfs: 'models files bench--many' lists $n of 100 files"
    else note "modelfs: pull hf://bench/many failed: ${out##*$'\n'}"; fi
    rm -rf "$store"
  done
}

# ------------------------------------------------------------------- runs ---
MODELFS_OK=0
if want modelfs; then
  if [[ ! -x $MODELFS ]]; then
    note "modelfs: skipped — $MODELFS not found (MODELFS=... to point at a binary)"
  elif ! "$MODELFS" models pull --help 2>&1 | grep -qw pull; then
    # (CLI11 prints the `models` help with status 0 for an unknown subcommand: look for "pull")
    note "modelfs: skipped — modelfs pull not available ($MODELFS models pull --help shows no pull command)"
  else MODELFS_OK=1; fi
fi
# This VM's virtio disk is cached by the host: the first read of a fresh file runs at ~400 MB/s,
# later reads (after drop_caches in the guest) at ~4 GB/s. The peers' baseline in DESIGN.md was
# taken that way (data created once, 3 runs), so read the file once before measuring; PRIME=0
# measures against the host-cold disk instead.
if [[ $SERVE == disk && ${PRIME:-1} == 1 ]]; then log "priming the host's disk cache"; cat "$SRC" > /dev/null; fi
log "local disk"
for r in $(seq "$RUNS"); do drop_caches; timeit cat "$SRC" && rec disk seq_s "$T"; done
want curl      && { log "curl (nginx)";     bench_curl curl "$NGINX_URL/model.safetensors"; }
want curl-hub  && { log "curl -L (hub)";    bench_curl curl-hub "$HUB_URL" -L; }
want rclone    && { log "rclone :http:";    bench_fuse rclone    || note "rclone failed"; }
want httpdirfs && { log "httpdirfs";        bench_fuse httpdirfs || note "httpdirfs failed"; }
if ((MODELFS_OK)); then
  log "modelfs"; bench_fuse modelfs || note "modelfs failed"
  log "modelfs: 32 readers, registration"; bench_modelfs_extra || note "modelfs (32 readers / registration) failed"
fi

# ---------------------------------------------------------------- summary ---
med() {  # values... -> median ("" if none)
  printf '%s\n' "$@" | awk 'NF' | sort -g |
    awk '{ a[NR] = $1 } END { if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
get() { med ${R[$1,$2]:-}; }  # METHOD METRIC -> median raw value
fmt() {  # METHOD METRIC KIND -> cell
  local v; v=$(get "$1" "$2"); [[ -n $v ]] || { echo -; return; }
  case $3 in
    mbs) awk -v s="$SIZE" -v t="$v" 'BEGIN { printf "%.0f", s / t / 1e6 }' ;;
    mbs32) awk -v s="$SIZE" -v t="$v" 'BEGIN { printf "%.0f", 32 * s / t / 1e6 }' ;;
    ms) awk -v t="$v" 'BEGIN { printf "%.1f", t }' ;;
    x) awk -v s="$SIZE" -v b="$v" 'BEGIN { printf "%.2fx", b / s }' ;;
    kib) awk -v b="$v" 'BEGIN { printf "%.0f", b / 1024 }' ;;
    rss) awk -v k="$v" 'BEGIN { printf "%.0f", k / 1024 }' ;;
    s) awk -v t="$v" 'BEGIN { printf "%.3f", t }' ;;
    n) printf '%.0f' "$v" ;;
  esac
}
METHODS=(curl curl-hub rclone httpdirfs modelfs)
verdict() {  # CONDITION-AWK-EXPR on v (the modelfs cell's raw value) -> ok / MISS / -
  local v; v=$(get modelfs "$1"); [[ -n $v ]] || { echo -; return; }
  awk -v v="$v" -v s="$SIZE" -v rc="$(get rclone seq_s)" -v m="$1" "BEGIN { printf \"%s\", ($2) ? \"ok\" : \"MISS\"
    if (m == \"seq_s\" && rc != \"\") printf \" (%.2fx rclone)\", rc / v; print \"\" }"
}
W1=38
row() {  # LABEL METRIC KIND TARGET VERDICT-EXPR
  local m
  printf "%-${W1}s" "$1"
  for m in "${METHODS[@]}"; do printf ' %10s' "$(fmt "$m" "$2" "$3")"; done
  printf '  %-24s %s\n' "$4" "$( [[ -n $5 ]] && verdict "$2" "$5" || echo)"
}
ROFF_LABEL="$RAND_OFF_MIB MiB"; ((RAND_OFF_MIB == 1536)) && ROFF_LABEL="1.5 GiB"
echo
echo "lazy pull from the Hub: $SIZE_MIB MiB random file, all reads cold, runs: $RUNS (medians); $(nproc) cores, kernel $(uname -r)"
printf "%-${W1}s" ""; for m in "${METHODS[@]}"; do printf ' %10s' "$m"; done; printf '  %-24s %s\n' target modelfs
row "cold sequential MB/s"                seq_s  mbs ">= 2000, >= 5x rclone" 's / v / 1e6 >= 2000 && (rc == "" || rc / v >= 5)'
row "  nginx bytes / file size"           seq_b  x   "~1.00x"                  'v / s <= 1.05 && v / s >= 0.999'
row "  nginx requests"                    seq_n  n   ""                        ""
row "first 4 KiB (TTFB) ms"               ttfb_ms ms "<= 6"                    'v <= 6'
row "  nginx KiB for it"                  ttfb_b kib ""                        ""
row "4 KiB at $ROFF_LABEL ms"             rand_ms ms "<= 6"                    'v <= 6'
row "  nginx KiB for it"                  rand_b kib "<= 1024 (1 MiB)"         'v <= 1048576'
row "daemon peak RSS MiB (cold seq)"      rss_kb rss "<= 64"                   'v <= 65536'
row "32 readers: nginx bytes / file size" r32_b  x   "<= 1.05x"                'v / s <= 1.05'
row "32 readers: MB/s (32 x size / wall)" r32_s  mbs32 ""                        ""
row "4 files at once: MB/s (size / wall)"  f4_s   mbs ""                        ""
row "4 files at once: daemon peak RSS MiB"  f4_rss rss ""                        ""
row "pull bench/model s (registers only)" pull_s s   ""                        ""
row "  nginx KiB during the pull"         pull_b kib "0"                       'v == 0'
row "pull bench/many (100 files) s"       reg_s  s   "< 1"                     'v < 1'
printf "%-${W1}s" "content check (cmp, 4 KiB reads)"
for m in "${METHODS[@]}"; do printf ' %10s' "${R[$m,verify]:--}"; done; echo
echo
if [[ $SERVE == shm ]]; then
  echo "nginx serves the file from RAM (/dev/shm; SERVE=disk to serve it from the work dir's disk)"
else
  echo "local disk, cold \`cat\` of the source file: $(fmt disk seq_s mbs) MB/s (nginx reads it: bounds every cold figure)"
fi
echo "curl rows: curl's %{time_total} (no process start); FUSE rows: open+read timed inside python3."
echo "nginx bytes: \$body_bytes_sent of the file's requests in nginx's access log (4 KiB rows: after"
echo "a 2 s settle and the unmount, so read-ahead counts). rclone: --vfs-cache-mode full; httpdirfs: --cache."
[[ -n ${MTAG:-} ]] && echo "modelfs model: $MTAG"
if ((${#NOTES[@]})); then echo; echo "notes:"; printf ' - %s\n' "${NOTES[@]}"; fi
