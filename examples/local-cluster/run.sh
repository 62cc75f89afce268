#!/usr/bin/env bash
# Starts a local three-node Capstan cluster on loopback with a shared fake
# cloud, applies the demo policy, and feeds it load replayed from a trace.
# Ctrl-C stops everything. Plaintext HTTP on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin/capstan}
DATA=${DATA:-out/local-cluster}
mkdir -p "$DATA"
pids=()
cleanup() {
	trap - INT TERM EXIT
	echo; echo "stopping the cluster..."
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo "stopped. Data is kept in $DATA (delete it for a fresh cluster)."
}
# Ctrl-C (INT) and SIGTERM are how this demo is meant to end: stop the
# processes and exit 0, so `make run` does not report "Error 143/130".
stop() {
	cleanup
	exit 0
}
trap stop INT TERM
trap cleanup EXIT
echo "Plaintext on loopback: the API and Raft traffic are not encrypted (no TLS). This is a demo, not a secured cluster;"
echo "see 'Security: TLS' in README.md for capstan tls init and the --tls-* flags."

# API tokens: a fresh admin token for every run. The agents get the token
# file (it holds only the secret's hash) and present the secret to each other
# to form the cluster; this script's own CLI calls read it from CAPSTAN_TOKEN.
rm -f "$DATA/admin.secret"
"$BIN" token generate --name demo-admin --role admin --secret-file "$DATA/admin.secret" >"$DATA/tokens.yaml" 2>/dev/null
CAPSTAN_TOKEN=$(cat "$DATA/admin.secret")
export CAPSTAN_TOKEN

"$BIN" fakecloud --addr 127.0.0.1:7070 --boot-delay 10s --auto-create >"$DATA/fakecloud.log" 2>&1 &
pids+=($!)
JOIN=127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083
for i in 1 2 3; do
	"$BIN" agent --node-id "node$i" --data-dir "$DATA/node$i" \
		--raft-addr "127.0.0.1:700$i" --http-addr "127.0.0.1:808$i" \
		--bootstrap-expect 3 --join "$JOIN" --fake-cloud http://127.0.0.1:7070 \
		--token-file "$DATA/tokens.yaml" --node-token-file "$DATA/admin.secret" \
		>"$DATA/node$i.log" 2>&1 &
	pids+=($!)
done
export CAPSTAN_ADDR=http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083
printf 'waiting for a leader'
for _ in $(seq 1 60); do
	if curl -fsS http://127.0.0.1:8081/readyz >/dev/null 2>&1; then break; fi
	printf '.'; sleep 0.5
done
echo
"$BIN" policy apply -f examples/local-cluster/policy.yaml
"$BIN" feed --addr 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083 \
	--trace examples/traces/app_cpu_usage_1min.csv --policy demo --metric usage --speed 60 --loop \
	>"$DATA/feed.log" 2>&1 &
pids+=($!)
cat <<TXT

Capstan is running: three agents (node1..node3, API on 127.0.0.1:8081..8083,
Raft on 127.0.0.1:7001..7003, all plaintext on loopback), a fake cloud on 127.0.0.1:7070, and a feeder
replaying examples/traces/app_cpu_usage_1min.csv into policy "demo".

The API wants a token. This run made an admin token "demo-admin"; its secret is in
$DATA/admin.secret and the agents' token file (hashes only) is $DATA/tokens.yaml.

Try, in another terminal (the CLI tries 127.0.0.1:8081..8083 in turn, so any node will do):
  export CAPSTAN_TOKEN=\$(cat $DATA/admin.secret)
  $BIN status                      # the cluster: leader, term, members and their health
  $BIN status --watch              # the same, refreshed every 2s (Ctrl-C ends it)
  $BIN decisions demo              # what the policy decided and why
  $BIN token create --name viewer --role read   # a read-only token, replicated to every node
  $BIN token list                  # names, roles, origin (file or api)
  curl -s 127.0.0.1:7070/v1/groups # the fake group's size
  curl -s -H "Authorization: Bearer \$CAPSTAN_TOKEN" 127.0.0.1:8081/metrics | grep ^capstan_   # the leader's per-policy series only on the leader (capstan_raft_leader 1)
  curl -s 127.0.0.1:8081/v1/policies  # refused: 401 without a token
  kill <pid of the leader>         # watch another node take over, and status show it down
Agent pids: node1=${pids[1]} node2=${pids[2]} node3=${pids[3]}
Logs: $DATA/*.log. Ctrl-C stops everything.
TXT
wait
