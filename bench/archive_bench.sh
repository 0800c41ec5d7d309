#!/usr/bin/env bash
# bench/archive_bench.sh — export/import figures of modelfs beside the tools people use today,
# side by side in one run, for each model size:
#
#   export .bentomodel : `modelfs models export bench:v1 out.bentomodel`, beside Python's
#                        shutil.make_archive(base, "xztar", root_dir=DIR) (BentoML's way). For
#                        sizes > 256 MiB Python is timed on a 64 MiB slice-model (the first 64 MiB
#                        of the weights + config.json) and its MB/s is marked "*" (extrapolated:
#                        the same rate is assumed for the whole model). Our archive is checked
#                        with `xz -t` and listed with Python's tarfile (untimed).
#   export .tar.zst    : `modelfs models export bench:v1 out.tar.zst`, beside
#                        `tar -cf - -C DIR . | zstd -1 -T0 -q -o out.tar.zst`; then the disk's
#                        own speed for a cold export: `cat` of the input (packs / DIR) to
#                        /dev/null while `dd` writes SIZE MiB of zeros into a new file
#                        (oflag=direct / buffered, as zstd writes), at once; MB/s of the model
#   warm exports       : both exports again, and the peer's tar | zstd, with their inputs (the
#                        store / DIR) read into the page cache first and nothing dropped: the
#                        speed of the export pipelines rather than of this VM's disk; then the
#                        disk's write speed, `dd` of SIZE MiB of zeros into a new file, with
#                        oflag=direct and buffered (as tar/zstd write; modelfs writes through
#                        the page cache with a writeback window, see docs/archives.md)
#   import             : each archive into a fresh store (`modelfs models import`), beside
#                        `tar -xJf` / `zstd -dc | tar -xf -` into an empty directory
#   import, dedup      : the .bentomodel into a second store that already saved DIR (as
#                        other:v1): pack bytes added (`modelfs cache stats -o json`, pack_bytes)
#   cloud              : BentoCloud simulator (tests/sims/bentocloud_sim.py, objects on disk under
#                        the work dir): `models push` MB/s, lazy `models pull` (registration)
#                        seconds, then reading every file with `models cat > /dev/null` MB/s,
#                        and `models pull --prefetch` into another fresh store MB/s
#   s3                 : s3rver (tests/sims/s3rver.py --no-verify-signatures): `models export
#                        bench:v1 s3://bench/xN/` and `models import s3://bench/xN/bench-v1.bentomodel`
#
# The model: DIR = model.safetensors (SIZE MiB of random bytes) + a small config.json, saved with
# `modelfs models save bench:v1 DIR` into a fresh store. MB/s = bytes of DIR's files / wall time
# (10^6 B/s), wall time by `date +%s.%N` around the command; every timed step starts after
# reading the work dir's files once (PRIME) and `sync; echo 3 > /proc/sys/vm/drop_caches`. A failing step prints a NOTE and the bench goes on.
#
# Usage: bench/archive_bench.sh [SIZE_MIB...]        (default: 256 2048; root; builds nothing)
# Env:   MODELFS=build/tools/modelfs  RUNS=1 (medians over runs)  BENCH_DIR=/tmp (work dir parent)
#        KEEP=1 (keep the work dir)  ONLY="export import python tarzstd warm cloud s3"
#        STEP_TIMEOUT=3600 (s, per step)  PRIME=1 (see drop_caches)
# Only 127.0.0.1 is contacted.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
SIZES=("$@"); ((${#SIZES[@]})) || SIZES=(256 2048)
for s in "${SIZES[@]}"; do
  [[ $s =~ ^[0-9]+$ && $s -ge 1 ]] || { echo "usage: $0 [SIZE_MIB...]   (each >= 1)" >&2; exit 2; }
done
[[ $EUID == 0 ]] || { echo "run as root (drop_caches)" >&2; exit 2; }
MODELFS=${MODELFS:-$REPO/build/tools/modelfs}
[[ $MODELFS == /* ]] || MODELFS=$REPO/$MODELFS
RUNS=${RUNS:-1}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "RUNS must be >= 1" >&2; exit 2; }
ONLY=${ONLY:-"export import python tarzstd warm cloud s3"}
STEP_TIMEOUT=${STEP_TIMEOUT:-3600}
PY_FULL_MAX_MIB=256   # above this, Python's xztar is timed on a slice-model
PY_SLICE_MIB=64
API_KEY=bench-$RANDOM$RANDOM

# Loopback only: no proxy may see our requests; no real credentials are used.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY AWS_PROFILE AWS_SESSION_TOKEN \
  AWS_DEFAULT_PROFILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE BENTO_CLOUD_API_ENDPOINT BENTO_CLOUD_API_KEY
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
NOTES=()
note() { log "NOTE: $*"; NOTES+=("$*"); }
want() { [[ " $ONLY " == *" $1 "* ]]; }
die() { log "FATAL: $*"; exit 1; }

[[ -x $MODELFS ]] || die "$MODELFS not found (MODELFS=... to point at a binary)"
for t in python3 xz zstd tar; do command -v "$t" >/dev/null || die "$t is missing"; done

# ------------------------------------------------------- work dir, cleanup ---
mkdir -p "${BENCH_DIR:-/tmp}"
W=$(mktemp -d "${BENCH_DIR:-/tmp}/archive-bench.XXXXXX") || die "mktemp failed"
LOGS=$W/logs
mkdir -p "$LOGS" "$W/out" "$W/stores" "$W/peer"
SIM_PID=; S3_PID=
stop_pid() {  # PID: stop a server we started (TERM, then KILL), wait for it
  local pid=$1 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$SIM_PID"
  stop_pid "$S3_PID"
  if [[ ${KEEP:-0} == 1 ]]; then log "work dir kept: $W"; else rm -rf "$W"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

# ---------------------------------------------------------------- helpers ---
# This VM's virtio disk is cached by the host: the first read of a freshly written file runs at
# ~400 MB/s, later reads (after drop_caches in the guest) at ~4 GB/s. The peers' baseline in
# DESIGN.md was taken that way (data made once, several runs). With PRIME=1 every file of the
# work dir is read once before the caches are dropped, so each step finds its input cold in this
# VM but warm in the host, whatever step wrote it; PRIME=0 leaves the host's cache alone.
drop_caches() {
  [[ ${PRIME:-1} == 1 ]] && find "$W" -type f -size +1M -exec cat {} + > /dev/null 2>&1
  sync; echo 3 > /proc/sys/vm/drop_caches
  # page the tools back in, so that only the data is cold
  "$MODELFS" --help > /dev/null 2>&1; python3 -c pass; tar --version > /dev/null; xz --version > /dev/null
  zstd --version > /dev/null
}
now() { date +%s.%N; }
T=0
STEPLOG=
timed() {  # NAME CMD...: drop caches (not with WARM_INPUTS), run CMD (output to logs/NAME.log), wall seconds in T
  local name=$1 t0 t1 rc; shift
  STEPLOG=$LOGS/$name.log
  if [[ -n ${WARM_INPUTS:-} ]]; then  # warm step: its inputs read into the page cache, all synced
    find $WARM_INPUTS -type f -exec cat {} + > /dev/null 2>&1; sync
  else
    drop_caches
  fi
  t0=$(now)
  timeout "$STEP_TIMEOUT" "$@" >> "$STEPLOG" 2>&1 < /dev/null; rc=$?
  t1=$(now)
  T=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
  ((rc == 0)) || note "$name: exit status $rc${STEPLOG:+: $(tail -n 1 "$STEPLOG" 2>/dev/null)}"
  return $rc
}
declare -A R=()
rec() { R[$1,$2]="${R[$1,$2]:-} $3"; }  # SIZE KEY VALUE
mf() { "$MODELFS" --home "$@"; }         # STORE ARGS...
pack_bytes() {  # STORE -> pack_bytes from `cache stats -o json`
  mf "$1" cache stats -o json 2>> "$LOGS/stats.err" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["pack_bytes"])' 2>> "$LOGS/stats.err"
}
dir_bytes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
json_field() {  # FILE FIELD
  python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline())[sys.argv[2]])' "$1" "$2"
}
wait_json() {  # FILE PID NAME: wait for the server's ready line
  local i
  for i in $(seq 1200); do
    [[ -s $1 ]] && json_field "$1" endpoint > /dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { note "$3 exited: $(tail -n 3 "$LOGS/$3.log" 2>/dev/null | tr '\n' ' ')"; return 1; }
    sleep 0.1
  done
  note "$3 did not start within 120 s"; return 1
}
# Python's shutil.make_archive, as BentoML exports a model
cat > "$W/py_xztar.py" <<'PY'
import shutil, sys
shutil.make_archive(sys.argv[1], "xztar", root_dir=sys.argv[2])
PY
# untimed check of a .bentomodel: Python's tarfile lists it, and it holds DIR's files
cat > "$W/py_list.py" <<'PY'
import os, sys, tarfile
names = {os.path.normpath(n) for n in tarfile.open(sys.argv[1], "r:xz").getnames()}
need = {os.path.normpath(os.path.relpath(os.path.join(r, f), sys.argv[2]))
        for r, _, fs in os.walk(sys.argv[2]) for f in fs}
missing = sorted(need - names)
print("ok %d members" % len(names) if not missing else "missing: %s" % missing)
sys.exit(1 if missing else 0)
PY

# ---------------------------------------------------------------- servers ---
CLOUD_OK=0; S3_OK=0
if want cloud; then
  log "starting the BentoCloud simulator"
  mkdir -p "$W/cloud"
  python3 "$REPO/tests/sims/bentocloud_sim.py" --host 127.0.0.1 --port 0 --api-key "$API_KEY" \
    --data-dir "$W/cloud" --port-file "$W/cloud.json" > "$LOGS/bentocloud_sim.log" 2>&1 &
  SIM_PID=$!
  if wait_json "$W/cloud.json" "$SIM_PID" bentocloud_sim; then
    CLOUD_EP=$(json_field "$W/cloud.json" endpoint)
    [[ $CLOUD_EP == http://127.0.0.1:* ]] && CLOUD_OK=1 || note "cloud: simulator endpoint is not loopback: $CLOUD_EP"
  fi
  ((CLOUD_OK)) || note "cloud: skipped (no simulator)"
fi
if want s3; then
  log "starting s3rver"
  mkdir -p "$W/s3tmp"
  # its data directory is a tempfile.mkdtemp(): keep it on disk, in the work dir
  TMPDIR=$W/s3tmp python3 "$REPO/tests/sims/s3rver.py" --bucket bench --no-verify-signatures \
    > "$W/s3.json" 2> "$LOGS/s3rver.log" &
  S3_PID=$!
  if wait_json "$W/s3.json" "$S3_PID" s3rver; then
    S3_EP=$(json_field "$W/s3.json" endpoint)
    S3_AK=$(json_field "$W/s3.json" access_key); S3_SK=$(json_field "$W/s3.json" secret_key)
    [[ $S3_EP == http://127.0.0.1:* ]] && S3_OK=1 || note "s3: s3rver endpoint is not loopback: $S3_EP"
  fi
  ((S3_OK)) || note "s3: skipped (no s3rver; scripts/install-deps installs it)"
fi

# ------------------------------------------------------------------- runs ---
NST=0
fresh_store() { FS=$W/stores/s$((++NST)); }  # -> FS (no subshell: NST must count)

bench_size() {  # SIZE_MIB
  local S=$1 dir=$W/model-$1 src bytes r st out py_dir py_bytes py_base k
  log "== $S MiB: creating the model directory"
  mkdir -p "$dir"
  head -c $((S << 20)) /dev/urandom > "$dir/model.safetensors" || { note "$S MiB: cannot write the model"; return 1; }
  printf '%s\n' '{"architectures":["BenchForCausalLM"],"hidden_size":4096,"num_hidden_layers":32,"vocab_size":32000,"torch_dtype":"bfloat16"}' > "$dir/config.json"
  bytes=$(dir_bytes "$dir"); R[$S,bytes]=$bytes
  fresh_store; src=$FS
  log "$S MiB: models save bench:v1 (untimed)"
  out=$(mf "$src" models save bench:v1 "$dir" 2>&1) || { note "$S MiB: models save failed: ${out##*$'\n'}"; return 1; }
  # Python's peer works on the whole directory, or on a slice-model for large sizes
  py_dir=$dir
  if ((S > PY_FULL_MAX_MIB)); then
    py_dir=$W/slice-$S; mkdir -p "$py_dir"
    head -c $((PY_SLICE_MIB << 20)) "$dir/model.safetensors" > "$py_dir/model.safetensors"
    cp "$dir/config.json" "$py_dir/"
    R[$S,py_extra]=1
  fi
  py_bytes=$(dir_bytes "$py_dir")
  local BM=$W/out/bench-$S.bentomodel ZS=$W/out/bench-$S.tar.zst PZ=$W/peer/peer-$S.tar.zst
  local ok_bm=0 ok_zs=0

  for r in $(seq "$RUNS"); do
    # ---- export .bentomodel
    if want export || want import || [[ $S3_OK == 1 ]]; then
      rm -f "$BM"
      log "$S MiB run $r: export .bentomodel"
      if timed "export-bm-$S" "$MODELFS" --home "$src" models export bench:v1 "$BM"; then
        rec "$S" exp_bm "$(awk -v b="$bytes" -v t="$T" 'BEGIN { print b / t }')"; ok_bm=1
        R[$S,bm_size]=$(stat -c %s "$BM")
        if ((r == 1)); then
          if xz -t "$BM" 2>> "$LOGS/verify.log"; then R[$S,xz_t]=ok; else R[$S,xz_t]=BAD; note "$S MiB: xz -t rejects the .bentomodel"; fi
          if out=$(python3 "$W/py_list.py" "$BM" "$dir" 2>&1); then R[$S,tarfile]=ok
          else R[$S,tarfile]=BAD; note "$S MiB: Python tarfile on the .bentomodel: ${out##*$'\n'}"; fi
        fi
      else ok_bm=0; fi
    fi
    if want python; then
      py_base=$W/peer/py-$S; rm -f "$py_base.tar.xz"
      log "$S MiB run $r: python shutil.make_archive xztar ($((py_bytes >> 20)) MiB)"
      if timed "python-xztar-$S" python3 "$W/py_xztar.py" "$py_base" "$py_dir"; then
        rec "$S" exp_py "$(awk -v b="$py_bytes" -v t="$T" 'BEGIN { print b / t }')"
      fi
      rm -f "$py_base.tar.xz"
    fi
    # ---- export .tar.zst
    if want tarzstd || want import; then
      rm -f "$ZS"
      log "$S MiB run $r: export .tar.zst"
      if timed "export-zst-$S" "$MODELFS" --home "$src" models export bench:v1 "$ZS"; then
        rec "$S" exp_zs "$(awk -v b="$bytes" -v t="$T" 'BEGIN { print b / t }')"; ok_zs=1
        if ((r == 1)); then
          if zstd -q -t "$ZS" 2>> "$LOGS/verify.log"; then R[$S,zstd_t]=ok; else R[$S,zstd_t]=BAD; note "$S MiB: zstd -t rejects the .tar.zst"; fi
        fi
      else ok_zs=0; fi
    fi
    if want tarzstd; then
      rm -f "$PZ"
      log "$S MiB run $r: tar | zstd -1 -T0"
      if timed "peer-tarzstd-$S" bash -o pipefail -c 'tar -cf - -C "$1" . | zstd -1 -T0 -q -o "$2"' _ "$dir" "$PZ"; then
        rec "$S" exp_pz "$(awk -v b="$bytes" -v t="$T" 'BEGIN { print b / t }')"
      fi
      rm -f "$PZ"
      # the disk's speed for a cold export: reading the input from disk while writing as many
      # bytes into a new file, at once; the packs with a direct write, DIR with a buffered one
      # (as tar | zstd)
      local DD=$W/out/ceiling-$S
      rm -f "$DD"
      timed "dd-cold-direct-$S" bash -c 'cat "$1"/packs/* > /dev/null & dd if=/dev/zero of="$2" bs=1M count="$3" oflag=direct status=none; r=$?; wait $! && exit $r' _ "$src" "$DD" "$S" &&
        rec "$S" dd_cold_direct "$(awk -v b="$bytes" -v t="$T" 'BEGIN { print b / t }')"
      rm -f "$DD"
      timed "dd-cold-buffered-$S" bash -c 'cat "$1"/* > /dev/null & dd if=/dev/zero of="$2" bs=1M count="$3" status=none; r=$?; wait $! && exit $r' _ "$dir" "$DD" "$S" &&
        rec "$S" dd_cold_buffered "$(awk -v b="$bytes" -v t="$T" 'BEGIN { print b / t }')"
      rm -f "$DD"
    fi
    # ---- warm exports: the packs (and DIR, for the peer) in the page cache, nothing dropped, so
    # the figure is the export pipeline's own speed, not the disk's
    if want warm; then
      local WB=$W/out/warm-$S.bentomodel WZ=$W/out/warm-$S.tar.zst
      rm -f "$WB" "$WZ" "$PZ"
      log "$S MiB run $r: warm exports"
      WARM_INPUTS="$src" timed "export-bm-warm-$S" "$MODELFS" --home "$src" models export bench:v1 "$WB" &&
        rec "$S" exp_bm_w "$(awk -v b="$bytes" -v t="$T" 'BEGIN { print b / t }')"
      rm -f "$WB"
      WARM_INPUTS="$src" timed "export-zst-warm-$S" "$MODELFS" --home "$src" models export bench:v1 "$WZ" &&
        rec "$S" exp_zs_w "$(awk -v b="$bytes" -v t="$T" 'BEGIN { print b / t }')"
      rm -f "$WZ"
      WARM_INPUTS="$dir" timed "peer-tarzstd-warm-$S" bash -o pipefail -c 'tar -cf - -C "$1" . | zstd -1 -T0 -q -o "$2"' _ "$dir" "$PZ" &&
        rec "$S" exp_pz_w "$(awk -v b="$bytes" -v t="$T" 'BEGIN { print b / t }')"
      rm -f "$PZ"
      # the disk's write speed: SIZE MiB into a fresh file, with direct I/O and through the page
      # cache (as tar and zstd write)
      local DD=$W/out/ceiling-$S
      rm -f "$DD"
      WARM_INPUTS="$W/out" timed "dd-direct-$S" dd if=/dev/zero of="$DD" bs=1M count="$S" oflag=direct &&
        rec "$S" dd_direct "$(awk -v b=$((S << 20)) -v t="$T" 'BEGIN { print b / t }')"
      rm -f "$DD"
      WARM_INPUTS="$W/out" timed "dd-buffered-$S" dd if=/dev/zero of="$DD" bs=1M count="$S" &&
        rec "$S" dd_buffered "$(awk -v b=$((S << 20)) -v t="$T" 'BEGIN { print b / t }')"
      rm -f "$DD"
    fi
    # ---- import
    if want import; then
      if ((ok_bm)); then
        fresh_store; st=$FS
        log "$S MiB run $r: import .bentomodel into a fresh store"
        timed "import-bm-$S" "$MODELFS" --home "$st" models import "$BM" &&
          rec "$S" imp_bm "$(awk -v b="$bytes" -v t="$T" 'BEGIN { print b / t }')"
        if ((r == 1)) && [[ -d $st ]]; then
          cmp -s <(mf "$st" models cat bench:v1 model.safetensors 2>/dev/null) "$dir/model.safetensors" &&
            R[$S,imp_ok]=ok || { R[$S,imp_ok]=BAD; note "$S MiB: the imported .bentomodel's model.safetensors differs"; }
        fi
        rm -rf "$st"
        rm -rf "$W/peer/x"; mkdir -p "$W/peer/x"
        log "$S MiB run $r: tar -xJf"
        timed "peer-untar-xz-$S" tar -xJf "$BM" -C "$W/peer/x" &&
          rec "$S" imp_pbm "$(awk -v b="$bytes" -v t="$T" 'BEGIN { print b / t }')"
        rm -rf "$W/peer/x"
        # dedup: a store that already holds DIR (as other:v1) imports the .bentomodel
        fresh_store; st=$FS
        if out=$(mf "$st" models save other:v1 "$dir" 2>&1); then
          local p0 p1
          p0=$(pack_bytes "$st")
          log "$S MiB run $r: import .bentomodel into a store that already saved DIR"
          if timed "import-dedup-$S" "$MODELFS" --home "$st" models import "$BM"; then
            rec "$S" dedup_s "$T"
            p1=$(pack_bytes "$st")
            if [[ $p0 =~ ^[0-9]+$ && $p1 =~ ^[0-9]+$ ]]; then rec "$S" dedup_b "$((p1 - p0))"
            else note "$S MiB: cache stats -o json gave no pack_bytes (see $LOGS/stats.err)"; fi
          fi
        else note "$S MiB: models save other:v1 failed: ${out##*$'\n'}"; fi
        rm -rf "$st"
      fi
      if ((ok_zs)); then
        fresh_store; st=$FS
        log "$S MiB run $r: import .tar.zst into a fresh store"
        timed "import-zst-$S" "$MODELFS" --home "$st" models import "$ZS" &&
          rec "$S" imp_zs "$(awk -v b="$bytes" -v t="$T" 'BEGIN { print b / t }')"
        rm -rf "$st"
        rm -rf "$W/peer/x"; mkdir -p "$W/peer/x"
        log "$S MiB run $r: zstd -dc | tar -xf -"
        timed "peer-untar-zst-$S" bash -o pipefail -c 'zstd -dc -q "$1" | tar -xf - -C "$2"' _ "$ZS" "$W/peer/x" &&
          rec "$S" imp_pzs "$(awk -v b="$bytes" -v t="$T" 'BEGIN { print b / t }')"
        rm -rf "$W/peer/x"
      fi
    fi
    # ---- BentoCloud round trip
    if ((CLOUD_OK)); then
      export BENTO_CLOUD_API_ENDPOINT=$CLOUD_EP BENTO_CLOUD_API_KEY=$API_KEY
      log "$S MiB run $r: models push"
      # the simulator keeps one bench:v1: --force replaces the previous size's / run's upload
      if timed "push-$S" "$MODELFS" --home "$src" models push --force bench:v1; then
        rec "$S" push "$(awk -v b="$bytes" -v t="$T" 'BEGIN { print b / t }')"
        fresh_store; st=$FS
        log "$S MiB run $r: lazy models pull"
        if timed "pull-$S" "$MODELFS" --home "$st" models pull bench:v1; then
          rec "$S" pull_s "$T"
          log "$S MiB run $r: models cat of every file"
          timed "cat-$S" bash -o pipefail -c 'for f in config.json model.safetensors; do "$1" --home "$2" models cat bench:v1 "$f" || exit 1; done > /dev/null' _ "$MODELFS" "$st" &&
            rec "$S" cat "$(awk -v b="$bytes" -v t="$T" 'BEGIN { print b / t }')"
          if ((r == 1)); then
            cmp -s <(mf "$st" models cat bench:v1 model.safetensors 2>/dev/null) "$dir/model.safetensors" &&
              R[$S,cloud_ok]=ok || { R[$S,cloud_ok]=BAD; note "$S MiB: model.safetensors read back from the cloud differs"; }
          fi
        fi
        rm -rf "$st"
        fresh_store; st=$FS
        log "$S MiB run $r: models pull --prefetch"
        timed "prefetch-$S" "$MODELFS" --home "$st" models pull --prefetch bench:v1 &&
          rec "$S" prefetch "$(awk -v b="$bytes" -v t="$T" 'BEGIN { print b / t }')"
        rm -rf "$st"
      fi
      unset BENTO_CLOUD_API_ENDPOINT BENTO_CLOUD_API_KEY
    fi
    # ---- S3
    if ((S3_OK)); then
      local pre=x$S-r$r key
      export AWS_ACCESS_KEY_ID=$S3_AK AWS_SECRET_ACCESS_KEY=$S3_SK AWS_ENDPOINT_URL=$S3_EP AWS_REGION=us-east-1
      log "$S MiB run $r: export to s3://bench/$pre/"
      if timed "s3-export-$S" "$MODELFS" --home "$src" models export bench:v1 "s3://bench/$pre/"; then
        rec "$S" s3_exp "$(awk -v b="$bytes" -v t="$T" 'BEGIN { print b / t }')"
        key=$(grep -o 's3://[^ ]*\.bentomodel' "$STEPLOG" | tail -n 1)
        [[ -n $key ]] || key=s3://bench/$pre/bench-v1.bentomodel
        fresh_store; st=$FS
        log "$S MiB run $r: import $key"
        timed "s3-import-$S" "$MODELFS" --home "$st" models import "$key" &&
          rec "$S" s3_imp "$(awk -v b="$bytes" -v t="$T" 'BEGIN { print b / t }')"
        rm -rf "$st"
        rm -rf "$W/s3tmp"/*/data/bench/"$pre" 2>/dev/null   # free the disk (s3rver keeps objects as files)
      fi
      unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL AWS_REGION
    fi
  done
  rm -rf "$dir" "$W/slice-$S" "$src" "$BM" "$ZS" "$W/peer"/*
}

for S in "${SIZES[@]}"; do bench_size "$S" || note "$S MiB: aborted"; done

# ---------------------------------------------------------------- summary ---
med() {  # values... -> median ("" if none)
  printf '%s\n' "$@" | awk 'NF' | sort -g |
    awk '{ a[NR] = $1 } END { if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
cell() {  # SIZE KEY KIND -> formatted median
  local v; v=$(med ${R[$1,$2]:-}); [[ -n $v ]] || { echo -; return; }
  case $3 in
    mbs) awk -v v="$v" 'BEGIN { printf (v < 1e7 ? "%.1f" : "%.0f"), v / 1e6 }' ;;
    s) awk -v v="$v" 'BEGIN { printf "%.2f s", v }' ;;
    b) awk -v v="$v" 'BEGIN { if (v < 1048576) printf "%d B", v; else printf "%.1f MiB", v / 1048576 }' ;;
  esac
}
W1=40
row() {  # LABEL KEY KIND PEER-KEY PEER-KIND
  local S c p
  printf "%-${W1}s" "$1"
  for S in "${SIZES[@]}"; do
    c=$(cell "$S" "$2" "$3")
    if [[ -n $4 ]]; then
      p=$(cell "$S" "$4" "$5")
      [[ $4 == exp_py && $p != - && -n ${R[$S,py_extra]:-} ]] && p="$p*"
    else p=""; fi
    printf ' %10s %10s' "$c" "$p"
  done
  echo
}
echo
echo "archive export/import: random-weight model (model.safetensors + config.json); runs: $RUNS (medians); $(nproc) cores, kernel $(uname -r)"
echo "MB/s = 10^6 B of the model's files / wall time; caches dropped before every timed step but the warm ones"
printf "%-${W1}s" ""; for S in "${SIZES[@]}"; do printf ' %21s' "$S MiB"; done; echo
printf "%-${W1}s" "step"; for S in "${SIZES[@]}"; do printf ' %10s %10s' modelfs peer; done; echo
row "export .bentomodel MB/s (peer: py xztar)" exp_bm mbs exp_py mbs
row "export .tar.zst MB/s (peer: tar|zstd -1)" exp_zs mbs exp_pz mbs
row "  disk: read input || dd, cold"         dd_cold_direct mbs dd_cold_buffered mbs
row "  warm: .bentomodel (packs in page cache)" exp_bm_w mbs "" ""
row "  warm: .tar.zst (peer: tar|zstd, warm)"  exp_zs_w mbs exp_pz_w mbs
row "  disk: dd direct (peer: buffered)"      dd_direct mbs dd_buffered mbs
row "import .bentomodel MB/s (peer: tar -xJf)" imp_bm mbs imp_pbm mbs
row "import .tar.zst MB/s (peer: zstd|tar -x)" imp_zs mbs imp_pzs mbs
row "import .bentomodel, store has DIR: packs+" dedup_b b "" ""
row "  its wall time"                          dedup_s s "" ""
row "cloud: models push MB/s"                  push mbs "" ""
row "cloud: lazy models pull (registration)"   pull_s s "" ""
row "cloud:   then models cat of all MB/s"     cat mbs "" ""
row "cloud: models pull --prefetch MB/s"       prefetch mbs "" ""
row "s3: export s3://bench/x/ MB/s"            s3_exp mbs "" ""
row "s3: import s3://.../bench-v1.bentomodel"  s3_imp mbs "" ""
printf "%-${W1}s" "checks: xz -t / tarfile / zstd -t"
for S in "${SIZES[@]}"; do printf ' %21s' "${R[$S,xz_t]:--}/${R[$S,tarfile]:--}/${R[$S,zstd_t]:--}"; done; echo
printf "%-${W1}s" "checks: import / cloud read == source"
for S in "${SIZES[@]}"; do printf ' %21s' "${R[$S,imp_ok]:--}/${R[$S,cloud_ok]:--}"; done; echo
printf "%-${W1}s" ".bentomodel size / model size"
for S in "${SIZES[@]}"; do
  if [[ -n ${R[$S,bm_size]:-} ]]; then printf ' %21s' "$(awk -v a="${R[$S,bm_size]}" -v b="${R[$S,bytes]}" 'BEGIN { printf "%.4f", a / b }')"
  else printf ' %21s' -; fi
done; echo
echo
for S in "${SIZES[@]}"; do
  [[ -n ${R[$S,py_extra]:-} ]] && echo "* $S MiB: extrapolated — Python's xztar timed on a $PY_SLICE_MIB MiB slice-model; at that rate $S MiB takes ~$(awk -v v="$(med ${R[$S,exp_py]:-})" -v b="${R[$S,bytes]}" 'BEGIN { if (v > 0) printf "%.0f s", b / v; else printf "? s" }')"
done
echo "targets: export .bentomodel >= 500 MB/s (still valid xz), export .tar.zst >= 1000 MB/s"
if ((${#NOTES[@]})); then echo; echo "notes:"; printf ' - NOTE: %s\n' "${NOTES[@]}"; fi
