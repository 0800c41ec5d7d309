#!/usr/bin/env bash
# bench/model_yaml_bench.sh — `models import` time of an archive whose
# model.yaml holds N metadata keys, for N doubling: linear parsing keeps the
# time per key flat (quadratic parsing made 100 k keys take 35 s).
# Usage: bench/model_yaml_bench.sh [N...]   (default 25000 50000 100000 200000 400000).
set -euo pipefail
cd "$(dirname "$0")/.."
MODELFS=$PWD/build/tools/modelfs
work=$(mktemp -d /var/tmp/modelfs-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
[ $# -gt 0 ] || set -- 25000 50000 100000 200000 400000
printf '%8s %10s %10s %12s\n' keys yaml_MiB import_s us_per_key
for n in "$@"; do
  dir=$work/m$n
  mkdir -p "$dir"
  python3 - "$dir" "$n" <<'PY'
import sys, os
d, n = sys.argv[1], int(sys.argv[2])
with open(os.path.join(d, "model.yaml"), "w") as f:
    f.write("name: meta\nversion: n%d\nmodule: ''\nmetadata:\n" % n)
    f.writelines("  k%d: %d\n" % (i, i) for i in range(n))
open(os.path.join(d, "w.bin"), "wb").write(b"x")
PY
  tar -C "$dir" -cf "$work/m$n.tar" ./model.yaml ./w.bin
  mib=$(python3 -c "print(f'{$(stat -c %s "$dir/model.yaml") / 1048576:.1f}')")
  t0=$(date +%s.%N)
  "$MODELFS" --home "$work/home" models import "$work/m$n.tar" >/dev/null
  t1=$(date +%s.%N)
  python3 -c "print(f'{$n:8d} {$mib:10} {$t1 - $t0:10.2f} {($t1 - $t0) / $n * 1e6:12.1f}')"
done
