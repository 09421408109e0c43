#!/usr/bin/env bash
# make demo-modes: the EKS seed's comparison of the ALB's two target types,
# on 3 real nodes (upstream kubelet, containerd and kube-proxy in their own
# network namespaces). The lab's ALB-like balancer fronts Service demo in
# IP mode (its targets are the pods) and Service demo-nodes in instance
# mode (its targets are the nodes at the NodePort, and kube-proxy on each
# node picks the pod). The seed's as-is and to-be run through each, and the
# four results are printed side by side. Expected: both as-is FAIL, both
# to-be PASS. Reports go to demo/modes/{as-is,to-be}-{ip,instance}.json.
# Needs what the real node needs (root, containerd, runc, the CNI plugins,
# make lab-node); DEMO_NODES sets the number of nodes (default 3), and
# DEMO_MIN_SYNC every node's kube-proxy minSyncPeriod (default 1s,
# kube-proxy's own default in a real cluster; the lab's is 1 ms).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin
DIR=${DEMO_DIR:-$PWD/demo/lab-modes}
OUT=$PWD/demo/modes
NODES=${DEMO_NODES:-3}
MIN_SYNC=${DEMO_MIN_SYNC:-1s}
K="$BIN/kubectl"
mkdir -p "$OUT"
rm -rf "$DIR"

"$BIN/rollcheck-lab" down --dir "$DIR" >/dev/null 2>&1 || true
echo "== starting the lab in $DIR: $NODES real nodes (kube-proxy minSyncPeriod $MIN_SYNC), the balancer in IP mode for demo and in instance mode for demo-nodes (logs in $DIR/logs)"
# The lab at a lower CPU priority than rollcheck: on one small machine the
# cluster would otherwise starve the load generator.
SYNC=()
for i in $(seq "$NODES"); do
  name=lab-node
  [ "$i" = 1 ] || name=lab-node-$i
  SYNC+=(--kube-proxy-min-sync "$name=$MIN_SYNC")
done
nice -n 10 "$BIN/rollcheck-lab" up --dir "$DIR" --node real --nodes "$NODES" "${SYNC[@]}" \
  --lb-instance default/demo-nodes >"$OUT/lab.log" 2>&1 &
trap '"$BIN/rollcheck-lab" down --dir "$DIR" >/dev/null 2>&1 || true' EXIT
"$BIN/rollcheck-lab" wait --dir "$DIR" --timeout 180s
KUBECONFIG=$DIR/kubeconfig
export KUBECONFIG
url() { sed -n "s|.*\"$1\": *\"\([^\"]*\)\".*|\1|p" "$DIR/lab.json" | head -1; }
IP=$(url lb_url)
INSTANCE=$(url default/demo-nodes)
[ -n "$IP" ] && [ -n "$INSTANCE" ] || { echo "no balancer URLs in $DIR/lab.json"; exit 1; }

# fresh NAME: start from no pods, apply scenarios/NAME.yaml and the
# instance-mode Service, wait for the rollout and for both balancers to
# serve (its removed targets aged out: the lag is 2 s; the instance mode's
# first health checks passed).
fresh() {
  "$K" delete deployment demo --ignore-not-found --cascade=foreground --wait --timeout 120s >/dev/null
  "$K" apply -f "scenarios/$1.yaml" >/dev/null
  "$K" apply -f scenarios/demo-nodes.yaml >/dev/null
  "$K" rollout status deployment/demo --timeout 120s >/dev/null
  for u in "$IP" "$INSTANCE"; do
    for _ in $(seq 300); do
      if curl -fsS -o /dev/null --max-time 2 "$u/"; then break; fi
      sleep 0.2
    done
  done
  sleep 3
  echo "   pods by node:"
  "$K" get pods -l app=demo -o custom-columns=POD:.metadata.name,NODE:.spec.nodeName --no-headers | sed 's/^/     /'
}

declare -A CODE
run() {
  local name=$1 mode=$2 target=$3; shift 3
  echo
  echo "== $name, $mode mode: rollcheck run -f scenarios/$name.scenario.yaml --target $target/ $*"
  set +e
  "$BIN/rollcheck" run -f "scenarios/$name.scenario.yaml" --target "$target/" --pod-header X-Pod-Name "$@" \
    --report-json "$OUT/$name-$mode.json" --report-html "$OUT/$name-$mode.html"
  CODE[$name-$mode]=$?
  set -e
}

for name in as-is to-be; do
  echo
  echo "== $name: kubectl apply -f scenarios/$name.yaml"
  fresh "$name"
  run "$name" ip "$IP" --service demo
  fresh "$name"
  run "$name" instance "$INSTANCE" --service demo-nodes
done

for name in as-is to-be; do
  echo
  echo "== $name: IP mode (before) and instance mode (after)"
  "$BIN/rollcheck" compare "$OUT/$name-ip.json" "$OUT/$name-instance.json" || true
done

verdict() { sed -n 's/^  "verdict": "\([A-Z]*\)".*/\1/p' "$1"; }
echo
echo "== verdicts on $NODES real nodes (reports in demo/modes/)"
bad=0
for c in as-is-ip as-is-instance to-be-ip to-be-instance; do
  want=0
  case $c in as-is-*) want=1 ;; esac
  mark=ok
  if [ "${CODE[$c]}" != "$want" ]; then mark=UNEXPECTED; bad=1; fi
  printf '%-15s %-5s exit %s (want %s) %s\n' "$c" "$(verdict "$OUT/$c.json")" "${CODE[$c]}" "$want" "$mark"
done
exit $bad
