#!/usr/bin/env bash
# bench/mount_bench.sh — read figures of `modelfs mount` beside squashfuse
# serving the same file from a zstd squashfs image, in one run.
#
#   warm sequential : `cat` after evicting the FUSE file's page cache
#                     (`dd iflag=nocache count=0`), data hot in the backing store
#   page-cache      : `cat` again without eviction
#   fio             : mountpoint-s3-shaped jobs — sequential 256 KiB with 1 and
#                     4 threads, random 4 KiB, read 1 MiB / skip 17 MiB (safetensors)
#   ttfb            : `head -c 1` on a fresh mount after drop_caches
#   rss             : daemon peak RSS (VmHWM) after streaming the file
#   many models     : N models of 10 files: `modelfs mount` time, `ls -lR` time
#
# Usage: bench/mount_bench.sh [SIZE_MIB=2048] [MODELS=10000]   (root; builds nothing)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-2048}
MODELS=${2:-10000}
MODELFS=$PWD/build/tools/modelfs
for p in fio squashfuse squashfs-tools; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null
done
work=$(mktemp -d /var/tmp/modelfs-mbench.XXXXXX)
M1=$work/mnt-modelfs; M2=$work/mnt-squashfuse; M3=$work/mnt-many
mkdir -p "$M1" "$M2" "$M3"
cleanup() {
  for m in "$M1" "$M2" "$M3"; do
    mountpoint -q "$m" && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }
  done
  sleep 0.5; rm -rf "$work"
}
trap cleanup EXIT

src=$work/model; mkdir -p "$src"
head -c $((SIZE_MIB << 20)) /dev/urandom > "$src/model.safetensors"
echo '{"hidden_size": 4096}' > "$src/config.json"
export MODELFS_HOME=$work/store
"$MODELFS" models save bench:v1 "$src" >/dev/null
mksquashfs "$src" "$work/model.sqfs" -comp zstd -noappend -quiet -no-progress >/dev/null 2>&1
"$MODELFS" mount "$M1" >/dev/null
squashfuse "$work/model.sqfs" "$M2"
F1=$M1/models/bench/v1/model.safetensors
F2=$M2/model.safetensors

now() { date +%s.%N; }
mbps() { python3 -c "print(f'{$SIZE_MIB * 1048576 / ($2 - $1) / 1e6:.0f}')"; }
evict() { dd if="$1" iflag=nocache count=0 status=none; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
fio_job() {  # file name extra-args… -> MB/s
  local f=$1; shift
  fio --name=j --filename="$f" --readonly --ioengine=psync --direct=0 --output-format=json "$@" 2>/dev/null |
    python3 -c "import json,sys; j=json.load(sys.stdin)['jobs']; print(f\"{sum(x['read']['bw_bytes'] for x in j)/1e6:.0f}\")"
}

declare -A R
for tool in modelfs squashfuse; do
  f=$F1; [ $tool = squashfuse ] && f=$F2
  cat "$f" > /dev/null                       # fill the backing caches
  evict "$f"; t0=$(now); cat "$f" > /dev/null; t1=$(now); R[$tool,warm]=$(mbps "$t0" "$t1")
  t0=$(now); cat "$f" > /dev/null; t1=$(now); R[$tool,pagecache]=$(mbps "$t0" "$t1")
  evict "$f"; R[$tool,seq1]=$(fio_job "$f" --rw=read --bs=256k --numjobs=1)
  evict "$f"; R[$tool,seq4]=$(fio_job "$f" --rw=read --bs=256k --numjobs=4 --group_reporting --offset_increment=$((SIZE_MIB / 4))m --size=$((SIZE_MIB / 4))m)
  evict "$f"; R[$tool,rand4k]=$(fio_job "$f" --rw=randread --bs=4k --runtime=5 --time_based)
  evict "$f"; R[$tool,skip17]=$(fio_job "$f" --rw=read:17m --bs=1m)
done
R[modelfs,rss]=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' /proc/$(pgrep -f "modelfs mount $M1" | head -1)/status)
R[squashfuse,rss]=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' /proc/$(pgrep -f "squashfuse $work" | head -1)/status)

# Time to first byte on a fresh mount with cold caches.
fusermount3 -u "$M1"; fusermount3 -u "$M2"; sleep 0.3
"$MODELFS" mount "$M1" >/dev/null; squashfuse "$work/model.sqfs" "$M2"
drop; t0=$(now); head -c 1 "$F1" > /dev/null; t1=$(now); R[modelfs,ttfb]=$(python3 -c "print(f'{($t1-$t0)*1000:.1f}')")
drop; t0=$(now); head -c 1 "$F2" > /dev/null; t1=$(now); R[squashfuse,ttfb]=$(python3 -c "print(f'{($t1-$t0)*1000:.1f}')")

printf "\n%-34s %12s %12s %8s\n" "${SIZE_MIB} MiB random file" modelfs squashfuse ratio
row() { printf "%-34s %12s %12s %8s\n" "$1" "${R[modelfs,$2]}" "${R[squashfuse,$2]}" \
  "$(python3 -c "print(f'{${R[modelfs,$2]}/max(${R[squashfuse,$2]},1e-9):.2f}')")"; }
row "warm sequential (cat) MB/s" warm
row "re-read from page cache MB/s" pagecache
row "fio seq 256 KiB, 1 thread MB/s" seq1
row "fio seq 256 KiB, 4 threads MB/s" seq4
row "fio random 4 KiB MB/s" rand4k
row "fio 1 MiB read / 17 MiB skip MB/s" skip17
row "time to first byte ms" ttfb
row "daemon peak RSS MiB" rss
echo "targets: warm >= 3000 MB/s and >= 0.8 x squashfuse; page cache >= 7000 MB/s; RSS <= 64 MiB"

# Many models: mount readiness and a full ls -lR.
fusermount3 -u "$M1"; sleep 0.3
[ "$MODELS" -gt 0 ] || exit 0
export MODELFS_HOME=$work/many
small=$work/small; mkdir -p "$small"
for i in $(seq 10); do echo "file $i" > "$small/f$i.json"; done
echo "saving $MODELS models of 10 files (through a mount daemon)…"
"$MODELFS" mount "$M3" >/dev/null
python3 - "$MODELFS" "$small" "$MODELS" <<'PY'
import subprocess, sys
modelfs, small, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
# One mount daemon takes the saves over its control socket, one process each.
for i in range(n):
    subprocess.run([modelfs, "models", "save", f"m{i}:v1", small], check=True, stdout=subprocess.DEVNULL)
PY
"$MODELFS" umount "$M3"
t0=$(now); "$MODELFS" mount "$M3" >/dev/null; t1=$(now)
echo "modelfs mount with $MODELS models: $(python3 -c "print(f'{($t1-$t0)*1000:.0f}')") ms (target < 100 ms)"
t0=$(now); ls -lR "$M3" > /dev/null; t1=$(now)
echo "ls -lR of the mount: $(python3 -c "print(f'{$t1-$t0:.2f}')") s (target < 2 s)"
