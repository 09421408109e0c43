#!/usr/bin/env bash
# make demo: start the lab, run rollcheck against the seed-002 pair (as-is,
# then to-be) and print both verdicts. Expected: as-is FAIL, to-be PASS.
# The lab's node is the real one (upstream kubelet, containerd, kube-proxy)
# where the machine allows it (root, containerd, runc, the CNI plugins and
# bin/kubelet from `make lab-node`), else the process kubelet;
# DEMO_NODE=process|real chooses. The front is the ALB-like load balancer.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin
DIR=${DEMO_DIR:-$PWD/demo/lab}
OUT=$PWD/demo
mkdir -p "$OUT"
rm -rf "$DIR"

"$BIN/rollcheck-lab" down --dir "$DIR" >/dev/null 2>&1 || true
NODE=${DEMO_NODE:-}
if [ -z "$NODE" ]; then
  NODE=process
  if [ "$(id -u)" = 0 ] && command -v containerd >/dev/null && command -v runc >/dev/null &&
    [ -x /usr/lib/cni/bridge ] && [ -x "$BIN/kubelet" ] && [ -x "$BIN/kube-proxy" ]; then
    NODE=real
  fi
fi
echo "== starting the lab in $DIR with node: $NODE, front: the ALB-like load balancer (logs in $DIR/logs)"
if [ "$NODE" = process ]; then
  echo "   (the real node needs root, containerd, runc, the CNI plugins and make lab-node; see README)"
fi
# The lab at a lower CPU priority than rollcheck: on one small machine the
# cluster would otherwise starve the load generator.
nice -n 10 "$BIN/rollcheck-lab" up --dir "$DIR" --node "$NODE" >"$OUT/lab.log" 2>&1 &
trap '"$BIN/rollcheck-lab" down --dir "$DIR" >/dev/null 2>&1 || true' EXIT
"$BIN/rollcheck-lab" wait --dir "$DIR" --timeout 90s
cat "$OUT/lab.log"
KUBECONFIG=$DIR/kubeconfig
export KUBECONFIG
LB=$(sed -n 's/.*"lb_url": *"\([^"]*\)".*/\1/p' "$DIR/lab.json" | head -1)
[ -n "$LB" ] || { echo "no lb_url in $DIR/lab.json"; exit 1; }

run_case() {
  local name=$1
  echo
  echo "== $name: kubectl apply -f scenarios/$name.yaml"
  # Start from no pods, so that no pod of the previous case is still
  # terminating (and still routed by the load balancer) during the baseline.
  "$BIN/kubectl" delete deployment demo --ignore-not-found --cascade=foreground --wait --timeout 120s
  "$BIN/kubectl" apply -f "scenarios/$name.yaml"
  "$BIN/kubectl" rollout status deployment/demo --timeout 120s
  # The Service's deregistration lag is 2s: let the removed targets age out.
  sleep 3
  echo "== $name: rollcheck run -f scenarios/$name.scenario.yaml --target $LB/"
  set +e
  "$BIN/rollcheck" run -f "scenarios/$name.scenario.yaml" --target "$LB/" --report-json "$OUT/$name.json" --report-html "$OUT/$name.html"
  local code=$?
  set -e
  eval "code_${name//-/_}=$code"
}

run_case as-is
run_case to-be

cp "$OUT/as-is.html" "$OUT/report.html"
echo
echo "HTML timelines: demo/as-is.html (also demo/report.html), demo/to-be.html"
echo
echo "== rollcheck compare demo/as-is.json demo/to-be.json"
"$BIN/rollcheck" compare "$OUT/as-is.json" "$OUT/to-be.json" || true

verdict() { sed -n 's/^  "verdict": "\([A-Z]*\)".*/\1/p' "$1"; }
echo
echo "== verdicts"
echo "node: $NODE; front: the ALB-like load balancer at $LB"
echo "as-is: $(verdict "$OUT/as-is.json") (exit $code_as_is)   report: demo/as-is.json"
echo "to-be: $(verdict "$OUT/to-be.json") (exit $code_to_be)   report: demo/to-be.json"
if [ "$code_as_is" = 1 ] && [ "$code_to_be" = 0 ]; then
  echo "as expected: as-is FAIL, to-be PASS"
else
  echo "UNEXPECTED: want as-is FAIL (exit 1) and to-be PASS (exit 0)"
  exit 1
fi
