#!/usr/bin/env bash
# make demo-strategies: start the lab and run every strategy example of
# scenarios/ in turn, printing each report as rollcheck prints it:
# Recreate (expect FAIL), apply (PASS), watch-only around kubectl set image
# (PASS), blue/green (PASS), canary steps (PASS) and --repeat 3 (PASS).
# Reports go to demo/strategies/NAME.{json,html}.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin
DIR=${DEMO_DIR:-$PWD/demo/lab-strategies}
OUT=$PWD/demo/strategies
mkdir -p "$OUT"
rm -rf "$DIR"
K="$BIN/kubectl"

"$BIN/rollcheck-lab" down --dir "$DIR" >/dev/null 2>&1 || true
echo "== starting the lab in $DIR (logs in $DIR/logs)"
"$BIN/rollcheck-lab" up --dir "$DIR" >"$OUT/lab.log" 2>&1 &
trap '"$BIN/rollcheck-lab" down --dir "$DIR" >/dev/null 2>&1 || true' EXIT
"$BIN/rollcheck-lab" wait --dir "$DIR" --timeout 90s
KUBECONFIG=$DIR/kubeconfig
export KUBECONFIG
LB=$(sed -n 's/.*"lb_url": *"\([^"]*\)".*/\1/p' "$DIR/lab.json" | head -1)
[ -n "$LB" ] || { echo "no lb_url in $DIR/lab.json"; exit 1; }
# Shorter phases than the shipped files, so the whole tour takes minutes.
PHASES=(--baseline 5s --settle 5s --step-hold 3s)

# fresh MANIFEST DEPLOYMENT...: remove every demo Deployment, apply the
# manifest, wait for the named Deployments and for removed targets to age
# out of the load balancer (its deregistration lag is 2 s).
fresh() {
  local manifest=$1; shift
  "$K" delete deployment demo demo-blue demo-green demo-stable demo-canary \
    --ignore-not-found --cascade=foreground --wait --timeout 120s >/dev/null
  "$K" apply -f "scenarios/$manifest" >/dev/null
  for d in "$@"; do "$K" rollout status "deployment/$d" --timeout 120s >/dev/null; done
  sleep 3
}

declare -A CODE WANT
run() {
  local name=$1 want=$2; shift 2
  echo
  echo "== $name: rollcheck run $* --target $LB/"
  set +e
  "$BIN/rollcheck" run "$@" --target "$LB/" "${PHASES[@]}" \
    --report-json "$OUT/$name.json" --report-html "$OUT/$name.html" 2>"$OUT/$name.stderr"
  CODE[$name]=$?
  set -e
  WANT[$name]=$want
}

fresh recreate.yaml demo
run recreate 1 -f scenarios/recreate.scenario.yaml

fresh to-be.yaml demo
run apply 0 -f scenarios/apply.scenario.yaml

fresh to-be.yaml demo
echo
echo "== watch-only: rollcheck waits; kubectl set image starts the rollout"
set +e
"$BIN/rollcheck" run -f scenarios/watch-only.scenario.yaml --target "$LB/" "${PHASES[@]}" \
  --report-json "$OUT/watch-only.json" --report-html "$OUT/watch-only.html" 2>"$OUT/watch-only.stderr" &
pid=$!
set -e
for _ in $(seq 600); do
  grep -q "waiting up to" "$OUT/watch-only.stderr" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
"$K" set image deployment/demo app=rollcheck/demo-app:v3
set +e
wait "$pid"
CODE[watch-only]=$?
set -e
WANT[watch-only]=0

fresh blue-green.yaml demo-blue demo-green
run blue-green 0 -f scenarios/blue-green.scenario.yaml

fresh canary.yaml demo-stable demo-canary
run canary 0 -f scenarios/canary.scenario.yaml

fresh to-be.yaml demo
run repeat 0 -f scenarios/repeat.scenario.yaml

echo
echo "== verdicts (reports in demo/strategies/)"
bad=0
for name in recreate apply watch-only blue-green canary repeat; do
  v=$(sed -n 's/^  "verdict": "\([A-Z]*\)".*/\1/p' "$OUT/$name.json")
  mark=ok
  if [ "${CODE[$name]}" != "${WANT[$name]}" ]; then mark=UNEXPECTED; bad=1; fi
  printf '%-11s %-5s exit %s (want %s) %s\n' "$name" "$v" "${CODE[$name]}" "${WANT[$name]}" "$mark"
done
exit $bad
