#!/bin/sh
# oracle.sh: write every output of `capstan simulate` that a speed change
# must leave byte-identical, so two builds can be compared with diff -r.
#
#   scripts/oracle.sh BIN OUTDIR [TRACES_DIR]
#
# BIN is a capstan binary (make build), OUTDIR is created (it must not
# exist), TRACES_DIR defaults to examples/traces (the shared traces are
# byte copies of the same twelve files). Run from the repository root.
#
# What it writes, each with prediction off and forecast-and-scale:
#   - the five bundled example policies on their traces;
#   - every trace under the scoreboard's convention (a policy file per trace,
#     target 0.7 × p99 / 20 by nearest rank, warmup and lead 180 s, season
#     auto, evaluation every 60 s; cpu traces as recorded on 20 instances);
# and for each: the timeline CSV, the timeline JSON, the HTML report with
# the prediction-off and HPA overlays, the -o json summary, and the -o json
# summary with --compare off --baseline hpa. Then the scoreboard itself:
# its -o json and its per-trace HTML reports.
#
# Compare two builds:
#   scripts/oracle.sh /tmp/capstan-main /tmp/oracle-main
#   scripts/oracle.sh bin/capstan /tmp/oracle-new && diff -r /tmp/oracle-main /tmp/oracle-new
set -eu

bin=$1
out=$2
traces=${3:-examples/traces}
if [ -e "$out" ]; then
	echo "oracle: $out exists" >&2
	exit 2
fi
mkdir -p "$out/policies"

# run NAME POLICY TRACE RECORDED: the outputs of one policy on one trace,
# off and forecast-and-scale.
run() {
	name=$1 pol=$2 tr=$3 rec=$4
	set --
	if [ "$rec" -gt 0 ]; then
		set -- --recorded-size "$rec"
	fi
	for mode in off forecast-and-scale; do
		o="$out/$name.$mode"
		"$bin" simulate --policy "$pol" --trace "$tr" "$@" --predictive "$mode" \
			--timeline "$o.timeline.csv" --report "$o.report.html" \
			--compare off --baseline hpa -o json >"$o.compare.json"
		"$bin" simulate --policy "$pol" --trace "$tr" "$@" --predictive "$mode" \
			--timeline "$o.timeline.json" -o json >"$o.summary.json"
	done
}

# The bundled examples and their traces (scoreboard.Examples).
for ex in app-cpu:app_cpu_usage_1min.csv:0 nyc-taxi:nyc_taxi_passengers_30min.csv:0 \
	asg-cpu:asg_cpu_utilization_5min.csv:10 batch-queue:batch_queue_depth_5min.csv:0 \
	elb-requests:elb_request_count_5min.csv:0; do
	IFS=: read -r pol tr rec <<EOF
$ex
EOF
	run "example-$pol" "examples/policies/$pol.yaml" "$traces/$tr" "$rec"
done

# The example policies written for a cloud, with no trace of their own,
# on a trace their metrics can read: two metrics, schedules, a budget.
"$bin" simulate --policy examples/policies/aws-web.yaml --trace "$traces/asg_cpu_utilization_5min.csv" --recorded-size 10 \
	--metric cpu=value --metric alb_requests=value --timeline "$out/example-aws-web.timeline.csv" \
	--report "$out/example-aws-web.report.html" --compare off --baseline hpa -o json >"$out/example-aws-web.compare.json"
"$bin" simulate --policy examples/policies/azure-api.yaml --trace "$traces/crane_input14_1min.csv" --recorded-size 4 \
	--metric cpu=value --metric rps=value --timeline "$out/example-azure-api.timeline.csv" \
	--report "$out/example-azure-api.report.html" --compare off --baseline hpa -o json >"$out/example-azure-api.compare.json"
"$bin" simulate --policy examples/policies/gcp-workers.yaml --trace "$traces/batch_queue_depth_5min.csv" \
	--timeline "$out/example-gcp-workers.timeline.csv" --report "$out/example-gcp-workers.report.html" \
	--compare off --baseline hpa -o json >"$out/example-gcp-workers.compare.json"

# Every trace under the scoreboard's convention (scoreboard.Traces).
for t in app_cpu_usage_1min:request_rate crane_input1_1min:request_rate crane_input8_1min:request_rate \
	crane_input14_1min:request_rate crane_input15_15s:request_rate nyc_taxi_passengers_30min:request_rate \
	tweets_amzn_5min:request_rate asg_cpu_utilization_5min:cpu elb_request_count_5min:request_rate \
	tweets_goog_5min:request_rate batch_queue_depth_5min:queue_depth batch_job_submissions_5min:request_rate; do
	name=${t%%:*} typ=${t#*:}
	scale=1 rec=0
	if [ "$typ" = cpu ]; then
		scale=20 rec=20
	fi
	# The p99 by nearest rank over the value column (missing values dropped).
	target=$(tail -n +2 "$traces/$name.csv" | cut -d, -f2 | grep -v '^[[:space:]]*$' | sort -g |
		awk -v s="$scale" '{v[NR-1]=$1} END {printf "%.17g", 0.7 * v[int(0.99*(NR-1))] * s / 20}')
	pol="$out/policies/$name.yaml"
	cat >"$pol" <<EOF
id: scoreboard
target: {provider: fake, group: scoreboard}
min: 1
max: 2000
metrics: [{name: demand, type: $typ, target: $target}]
warmup: 180s
evaluation_interval: 60s
predictive: {mode: forecast-and-scale, lead: 180s, season: auto}
EOF
	run "convention-$name" "$pol" "$traces/$name.csv" "$rec"
done

# The end-to-end benchmark's case (cmd/capstan BenchmarkSimulateEndToEnd):
# 16 days of 1-minute samples with a fixed 24 h season.
awk 'BEGIN {print "ts,value"; for (i = 0; i < 16*24*60; i++) printf "%d,%.3f\n", 1704067200 + i*60, 500 + 400*sin(2*3.141592653589793*i/1440) + i%7}' >"$out/bench.csv"
cat >"$out/policies/bench.yaml" <<EOF
id: bench
target: {provider: fake, group: g}
min: 1
max: 100
evaluation_interval: 1m
metrics: [{name: rps, type: request_rate, target: 50}]
predictive: {mode: forecast-and-scale, lead: 3m, season: 24h, history: 7d}
stale_after: 3m
EOF
run bench "$out/policies/bench.yaml" "$out/bench.csv" 0

# The scoreboard itself (exit status 1 when a target is missed: not an error here).
"$bin" simulate scoreboard --traces "$traces" -o json --reports "$out/scoreboard-reports" >"$out/scoreboard.json" || [ $? -eq 1 ]
echo "oracle: $(find "$out" -type f | wc -l) files in $out"
