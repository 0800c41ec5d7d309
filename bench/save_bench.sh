#!/usr/bin/env bash
# bench/save_bench.sh — the store's figures on a generated model:
#   save time vs `cp -r` + `sync` of the same directory (same run),
#   store growth when saving the identical directory again,
#   store growth for a copy with a 64 MiB region rewritten and 1 byte inserted,
#   chunking + hashing throughput on one core.
# Usage: bench/save_bench.sh [SIZE_MIB]   (default 2048). Needs a built ./build.
# Run it on a quiet machine: every figure is wall-clock time.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-2048}
MODELFS=$PWD/build/tools/modelfs
work=$(mktemp -d /var/tmp/modelfs-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
src=$work/model
mkdir -p "$src"
echo "generating ${SIZE_MIB} MiB model.safetensors + JSON files in $src"
head -c $((SIZE_MIB << 20)) /dev/urandom > "$src/model.safetensors"
python3 - "$src" <<'PY'
import json, sys, os
d = sys.argv[1]
json.dump({"architectures": ["Bench"], "hidden_size": 4096, "num_layers": 32}, open(os.path.join(d, "config.json"), "w"))
json.dump({"model": {"vocab": {f"tok{i}": i for i in range(50000)}}}, open(os.path.join(d, "tokenizer.json"), "w"))
json.dump({"eos_token_id": 2}, open(os.path.join(d, "generation_config.json"), "w"))
PY
sync
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
pack_bytes() { du -sb "$1/packs" | cut -f1; }

t0=$(now); cp -r "$src" "$work/cp-copy"; sync; t1=$(now)
cp_time=$(secs "$t0" "$t1")
rm -rf "$work/cp-copy"; sync

home=$work/store
t0=$(now); "$MODELFS" --home "$home" models save bench "$src" >/dev/null; t1=$(now)
save_time=$(secs "$t0" "$t1")
base=$(pack_bytes "$home")

"$MODELFS" --home "$home" models save bench-again "$src" >/dev/null
again=$(pack_bytes "$home")

edited=$work/edited
cp -r "$src" "$edited"
python3 - "$edited/model.safetensors" <<'PY'
import os, sys
p = sys.argv[1]
size = os.path.getsize(p)
with open(p, "r+b") as f:          # rewrite 64 MiB in the middle
    f.seek(size // 4)
    f.write(os.urandom(min(64 << 20, size // 4)))
with open(p, "rb") as f:           # insert one byte near the start
    head = f.read(4096); rest = f.read()
with open(p, "wb") as f:
    f.write(head + b"\x42" + rest)
PY
"$MODELFS" --home "$home" models save bench-edited "$edited" >/dev/null
after_edit=$(pack_bytes "$home")

echo
printf "%-52s %s\n" "cp -r + sync of the directory" "${cp_time} s"
printf "%-52s %s\n" "modelfs models save (chunks durable, index synced)" "${save_time} s ($(python3 -c "print(f'{$save_time/$cp_time:.2f}')") x cp+sync; target <= 1.5 x)"
printf "%-52s %s\n" "store growth, identical directory saved again" "$(python3 -c "print(f'{($again-$base)/$base*100:.3f} % ({$again-$base} bytes); target < 0.5 %')")"
printf "%-52s %s\n" "store growth, 64 MiB rewritten + 1 byte inserted" "$(python3 -c "print(f'{($after_edit-$again)/1048576:.1f} MiB; target <= 70 MiB')")"
echo
echo "chunking + XXH3-128 on one core (target >= 1500 MB/s):"
./build/bench/chunk_throughput 512
