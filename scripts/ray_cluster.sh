#!/usr/bin/env bash
# A real single-node Ray cluster on this machine, for hpsweep's Ray tests and for trying the launcher.
#
#   scripts/ray_cluster.sh start    # ray start --head with this machine's CPUs on a fixed port; idempotent
#   scripts/ray_cluster.sh stop     # stop only the processes this cluster runs (never a bare `ray stop`)
#   scripts/ray_cluster.sh status
#
# Sweeps connect with `hydra/launcher=ray hydra.launcher.ray.init.address=auto` (or this address). Its logs and
# state lie in $STATE (Ray's --temp-dir: short, as Ray's socket paths must stay under 107 characters). Ray is
# hpsweep's ray extra (make test installs it); RAY selects which `ray` runs it.
set -euo pipefail

cd "$(dirname "$0")/.."
RAY=${RAY:-.venv/bin/ray}
STATE=${HPSWEEP_RAY_STATE:-/tmp/hpsweep-ray}
PORT=${HPSWEEP_RAY_PORT:-6390}
CPUS=${HPSWEEP_RAY_CPUS:-$(getconf _NPROCESSORS_ONLN)}  # not nproc: it says OMP_NUM_THREADS where that is set
GPUS=${HPSWEEP_RAY_GPUS:-}  # empty: the GPUs Ray finds; a number declares that many

# the cluster's own processes: those that name its --temp-dir (or their session dir under it) or its port on their
# command line, and their children (the raylet's workers and agents rename themselves ray::...)
own_pids() {
  local pids children
  pids=$(pgrep -f -- "$STATE(/| |$)|--address=[^ ]*:$PORT( |$)" | grep -vx "$$" || true)
  children=$pids
  while [ -n "$children" ]; do
    children=$(for pid in $children; do pgrep -P "$pid" || true; done)
    pids="$pids $children"
  done
  echo $pids
}

# something listens on the port (ray status alone retries for most of a minute where nothing does), and it is Ray
up() { timeout 2 bash -c "</dev/tcp/127.0.0.1/$PORT" 2>/dev/null && "$RAY" status --address "127.0.0.1:$PORT" >/dev/null 2>&1; }

start() {
  if up; then echo "Ray cluster already up at 127.0.0.1:$PORT"; return; fi
  [ -x "$RAY" ] || { echo "no $RAY: install hpsweep's ray extra (pip install -e '.[ray]')" >&2; exit 1; }
  mkdir -p "$STATE"
  # no dashboard (nothing hpsweep uses) and a small object store (trainings pass no large objects): memory kept
  # for the trainings on a small machine
  # the ports next to $PORT: a second cluster on another port (the tests' private one) meets none of these
  "$RAY" start --head --port "$PORT" --ray-client-server-port $((PORT + 1)) \
    --dashboard-agent-listen-port $((PORT + 2)) --num-cpus "$CPUS" ${GPUS:+--num-gpus "$GPUS"} --temp-dir "$STATE" \
    --include-dashboard false --object-store-memory 200000000 --disable-usage-stats >"$STATE/start.log" 2>&1 \
    || { cat "$STATE/start.log" >&2; exit 1; }
  for _ in $(seq 100); do up && break; sleep 0.2; done
  up || { echo "the Ray cluster did not answer at 127.0.0.1:$PORT; its log: $STATE/start.log" >&2; exit 1; }
  echo "Ray cluster up at 127.0.0.1:$PORT ($CPUS CPUs), state in $STATE"
}

stop() {
  local pids
  pids=$(own_pids)
  [ -n "$pids" ] || { echo "no Ray cluster of $STATE running"; return; }
  kill $pids 2>/dev/null || true
  for _ in $(seq 25); do [ -z "$(own_pids)" ] && break; sleep 0.2; done
  pids=$(own_pids)
  [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
  echo "Ray cluster of $STATE stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if up; then echo "Ray cluster up at 127.0.0.1:$PORT"; else echo "Ray cluster stopped"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
