#!/usr/bin/env bash
# make demo-scale: the seed pair at 4 replicas and at SCALE_REPLICAS (100)
# on the process lab (SCALE_NODE=real: on the real node, upstream kubelet,
# containerd and kube-proxy; root), surge 25% at the large count, each run under
# /usr/bin/time: the verdict and the causes side by side, with rollcheck's
# peak RSS, its CPU time, and the size of each report. Reports go to
# demo/scale/NAME.{json,html}.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin
DIR=${DEMO_DIR:-$PWD/demo/lab-scale}
OUT=$PWD/demo/scale
N=${SCALE_REPLICAS:-100}
UP=()
case ${SCALE_NODE:-process} in
  process) ;;
  real) UP=(--node real) ;;
  *) echo "SCALE_NODE=$SCALE_NODE: want process or real" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
rm -rf "$DIR"
K="$BIN/kubectl"

"$BIN/rollcheck-lab" down --dir "$DIR" >/dev/null 2>&1 || true
echo "== starting the lab in $DIR (logs in $DIR/logs)"
"$BIN/rollcheck-lab" up --dir "$DIR" "${UP[@]}" >"$OUT/lab.log" 2>&1 &
trap '"$BIN/rollcheck-lab" down --dir "$DIR" >/dev/null 2>&1 || true' EXIT
"$BIN/rollcheck-lab" wait --dir "$DIR" --timeout 90s
KUBECONFIG=$DIR/kubeconfig
export KUBECONFIG
LB=$(sed -n 's/.*"lb_url": *"\([^"]*\)".*/\1/p' "$DIR/lab.json" | head -1)
[ -n "$LB" ] || { echo "no lb_url in $DIR/lab.json"; exit 1; }

# manifest FILE REPLICAS: the seed's manifest at REPLICAS, its surge 25%
# (the to-be's maxSurge 1 is 25% of 4).
manifest() {
  sed -e "s/^  replicas: 4$/  replicas: $2/" -e 's/^      maxSurge: 1$/      maxSurge: 25%/' "scenarios/$1"
}

fresh() {
  "$K" delete deployment demo --ignore-not-found --cascade=foreground --wait --timeout 600s >/dev/null
  manifest "$1" "$2" | "$K" apply -f - >/dev/null
  "$K" rollout status deployment/demo --timeout 600s >/dev/null
  sleep 3
}

declare -A SUMMARY
run() {
  local name=$1 file=$2 replicas=$3 scenario=$4
  fresh "$file" "$replicas"
  echo
  echo "== $name: $replicas replicas, rollcheck run -f scenarios/$scenario --target $LB/"
  set +e
  /usr/bin/time -f '%M %U %S %e' -o "$OUT/$name.time" "$BIN/rollcheck" run -f "scenarios/$scenario" --target "$LB/" \
    --rollout-timeout 5m --report-json "$OUT/$name.json" --report-html "$OUT/$name.html" >"$OUT/$name.txt" 2>"$OUT/$name.stderr"
  local code=$?
  set -e
  cat "$OUT/$name.txt"
  # /usr/bin/time says first when the command failed: its numbers are last.
  read -r rss user sys wall < <(tail -1 "$OUT/$name.time")
  local causes
  causes=$(sed -n 's/^  \([A-Z_][A-Z_0-9]*\)  .*/\1/p' "$OUT/$name.txt" | tr '\n' ' ')
  SUMMARY[$name]=$(printf '%-12s %4s  exit %d  peak RSS %6.1f MiB  CPU %6.2f s  wall %6.1f s  json %7d B  html %7d B  summary %3d lines  causes %s' \
    "$name" "$replicas" "$code" "$(awk "BEGIN{print $rss/1024}")" "$(awk "BEGIN{print $user+$sys}")" "$wall" \
    "$(stat -c %s "$OUT/$name.json")" "$(stat -c %s "$OUT/$name.html")" "$(wc -l <"$OUT/$name.txt")" "$causes")
}

run as-is-4 as-is.yaml 4 as-is.scenario.yaml
run as-is-$N as-is.yaml "$N" as-is.scenario.yaml
run to-be-4 to-be.yaml 4 to-be.scenario.yaml
run to-be-$N to-be.yaml "$N" to-be.scenario.yaml

echo
echo "== side by side"
for n in as-is-4 as-is-$N to-be-4 to-be-$N; do echo "${SUMMARY[$n]}"; done
