#!/usr/bin/env bash
# A real Prometheus server scrapes a running ember application's driver UI: both of Spark's
# Prometheus endpoints (/metrics/prometheus, the driver's metrics; /metrics/executors/prometheus,
# the executors') must be scraped with up == 1, and metrics_executor_completedTasks_total must
# reach Prometheus's query API above 0 while the application runs.
#
#   EMBER_TEST_APP=build/test/ember-test-app test/ui/prometheus_test.sh
#
# Installs Debian's prometheus if missing (apps/bootstrap.sh). Everything it starts (the
# application, which stops its executors, and Prometheus) is stopped by PID on exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../../apps/bootstrap.sh
source "$root/apps/bootstrap.sh" --no-build
ember_install prometheus curl
set +e +o pipefail  # the polling below checks its own statuses
set -u

app=${EMBER_TEST_APP:?EMBER_TEST_APP must name the ember-test-app executable}
python=/usr/bin/python3
[ -x "$python" ] || python=python3
tasks=${EMBER_PROMETHEUS_TASKS:-200}
task_ms=${EMBER_PROMETHEUS_TASK_MS:-50}

work=$(mktemp -d "${TMPDIR:-/tmp}/ember-prometheus.XXXXXX")
app_pid=""
prom_pid=""

stop_pid() {  # stop_pid PID: TERM, up to 10 s to exit, then KILL
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}
cleanup() {
    stop_pid "$app_pid"
    stop_pid "$prom_pid"
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    for f in app.log prometheus.log; do
        [ -s "$work/$f" ] && { echo "--- $f (last 30 lines)" >&2; tail -n 30 "$work/$f" >&2; }
    done
    exit 1
}

free_port() {  # a port nobody listens on now (the kernel's pick for port 0)
    "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
ui_port=$(free_port)
prom_port=$(free_port)
while [ "$prom_port" = "$ui_port" ]; do prom_port=$(free_port); done
prom="http://127.0.0.1:$prom_port"

cat > "$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ember-driver
    metrics_path: /metrics/prometheus
    static_configs:
      - targets: ['127.0.0.1:$ui_port']
  - job_name: ember-executors
    metrics_path: /metrics/executors/prometheus
    static_configs:
      - targets: ['127.0.0.1:$ui_port']
YAML

prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn > "$work/prometheus.log" 2>&1 &
prom_pid=$!

# Prometheus first, so that its scrapes cover the whole life of the application.
ready=""
for _ in $(seq 300); do
    kill -0 "$prom_pid" 2>/dev/null || fail "prometheus exited early"
    if curl -fsS "$prom/-/ready" > /dev/null 2>&1; then ready=1; break; fi
    sleep 0.1
done
[ -n "$ready" ] || fail "prometheus not ready at $prom within 30 s"
# Its scrape manager takes the targets up to 5 s after start: wait for both, so that the
# application's few seconds are all scraped.
targets=""
for _ in $(seq 300); do
    targets=$(curl -fsS "$prom/api/v1/targets" 2>/dev/null |
        "$python" -c 'import json, sys; print(len(json.load(sys.stdin)["data"]["activeTargets"]))' 2>/dev/null)
    [ "$targets" = 2 ] && break
    sleep 0.1
done
[ "$targets" = 2 ] || fail "prometheus has ${targets:-no} active targets, not 2, after 30 s"

"$app" sleep --tasks "$tasks" --ms "$task_ms" --conf "ember.ui.port=$ui_port" > "$work/app.log" 2>&1 &
app_pid=$!

query() {  # query PROMQL: the instant vector as "<job or executor_id> <value>" lines
    curl -fsS -G "$prom/api/v1/query" --data-urlencode "query=$1" 2>/dev/null | "$python" -c '
import json, sys
reply = json.load(sys.stdin)
if reply.get("status") != "success":
    sys.exit(1)
for sample in reply["data"]["result"]:
    labels = sample["metric"]
    name = labels.get("executor_id") or labels.get("job") or "?"
    print(name, sample["value"][1], json.dumps(labels, sort_keys=True))
'
}

# Poll while the application runs: both targets up, and a completed task counted.
saw_up=""
saw_completed=""
completed_line=""
for _ in $(seq 1200); do  # at most 120 s
    up=$(query 'up')
    if echo "$up" | grep -q '^ember-driver 1 ' && echo "$up" | grep -q '^ember-executors 1 '; then
        saw_up=1
    fi
    completed=$(query 'metrics_executor_completedTasks_total > 0')
    if [ -n "$completed" ]; then
        saw_completed=1
        completed_line=$completed
    fi
    [ -n "$saw_up" ] && [ -n "$saw_completed" ] && break
    kill -0 "$app_pid" 2>/dev/null || break
    sleep 0.1
done

[ -n "$saw_up" ] || fail "up was never 1 for both jobs; last 'up': $(query up | tr '\n' ';')"
[ -n "$saw_completed" ] ||
    fail "metrics_executor_completedTasks_total never above 0; last: $(query metrics_executor_completedTasks_total | tr '\n' ';')"

# Spark's labels on the executor series.
echo "$completed_line" | "$python" -c '
import json, sys
for line in sys.stdin:
    labels = json.loads(line.split(" ", 2)[2])
    missing = [k for k in ("application_id", "application_name", "executor_id") if not labels.get(k)]
    if missing:
        sys.exit("metrics_executor_completedTasks_total lacks labels %s: %s" % (missing, labels))
    if labels["application_name"] != "ember-test-app":
        sys.exit("application_name is %r, not ember-test-app" % labels["application_name"])
' || fail "labels of metrics_executor_completedTasks_total"

# The application finishes its job and exits normally.
for _ in $(seq 1200); do
    kill -0 "$app_pid" 2>/dev/null || break
    sleep 0.1
done
wait "$app_pid"
status=$?
app_pid=""
[ "$status" -eq 0 ] || fail "ember-test-app exited with status $status"
grep -q "^done $tasks\$" "$work/app.log" || fail "ember-test-app did not print 'done $tasks'"

echo "ok: Prometheus scraped both endpoints (up == 1); completed tasks:"
echo "$completed_line" | cut -d' ' -f1,2 | sed 's/^/  executor /'
