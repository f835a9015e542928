# bench/consumers_lib.sh -- the consumer set that bench_analyzer.sh and
# bench_consumer_cpu.sh attach to clip-analyzer, sourced by both so that
# they measure the same programs with the same configuration. Not a
# program of its own.

# Every consumer program there is (both forms of `clipbus tail`).
bench_all_consumers="tail-jsonl,tail,rrd,log,alert,progress,top"

# Parses a --consumers LIST ("all" or names from bench_all_consumers,
# comma-separated) into the array `consumers`, in the fixed order of
# bench_all_consumers. Calls die_usage (the caller's) on a bad name.
bench_parse_consumers() {
  local list=$1 c _list want=()
  [[ $list == all ]] && list=$bench_all_consumers
  IFS=, read -r -a _list <<<"$list"
  for c in "${_list[@]}"; do
    [[ ",$bench_all_consumers," == *",$c,"* ]] \
      || die_usage "--consumers: '$c' is not a consumer (one of $bench_all_consumers, or all)"
    want+=("$c")
  done
  consumers=()
  for c in ${bench_all_consumers//,/ }; do
    [[ " ${want[*]} " == *" $c "* ]] && consumers+=("$c")
  done
  ((${#consumers[@]} >= 1)) || die_usage "--consumers needs at least one consumer"
}

# Writes the consumers' configuration file $1 for bus $2, their files
# under directory $3: RRD files written directly, the SQLite log, three
# alert rules (fetch failures, slow fetches, the analyzer dying) with a
# file channel. Keep it in a directory of its own, as in /etc: clipbus-log
# and clipbus-alert watch their configuration's directory (inotify), and
# every file created there would wake them.
bench_write_consumer_config() {
  local file=$1 bus=$2 d=$3 extra=""
  [[ -n "${BENCH_MAX_NAP:-}" ]] && extra=" \"consumer\": {\"max_nap\": \"$BENCH_MAX_NAP\"},"
  cat >"$file" <<EOF
{"bus": {"name": "$bus"},$extra
 "rrd": {"dir": "$d/rrd"},
 "log": {"path": "$d/clipbus-log.db"},
 "alert": {
   "state_dir": "$d/alert",
   "rules": [
     {"name": "FetchFailures", "kind": "counter_rate",
      "match": ["function=fetch_failures"], "window": "10s", "fire": 0.1,
      "severity": "warning", "summary": "{labels.reason} at {value}/s"},
     {"name": "SlowFetch", "kind": "latency", "percentile": 95,
      "match": ["function=fetch_clip_page"], "window": "30s", "fire": 2,
      "severity": "warning", "summary": "p95 {value}s"},
     {"name": "AnalyzerDied", "kind": "producer_died",
      "match": ["producer=clip-analyzer"], "severity": "critical",
      "summary": "clip-analyzer died"}],
   "channels": [{"name": "journal", "type": "file",
                 "path": "$d/alerts.jsonl"}],
   "routes": [{"channels": ["journal"]}]}}
EOF
}

# The command line of consumer $1 from build directory $2, reading bus $3
# with configuration $4, writing its own files under $5 (stdout and
# stderr are the caller's to redirect): into the array `consumer_cmd`.
bench_consumer_cmd() {
  local c=$1 b=$2 bus=$3 cfg=$4 d=$5
  case $c in
    tail-jsonl) consumer_cmd=("$b/tools/clipbus/clipbus" tail --bus "$bus" --jsonl) ;;
    tail) consumer_cmd=("$b/tools/clipbus/clipbus" tail --bus "$bus") ;;
    rrd) consumer_cmd=("$b/consumers/rrd/clipbus-rrd" --config "$cfg" --direct --quiet) ;;
    log) consumer_cmd=("$b/consumers/log/clipbus-log" --config "$cfg") ;;
    alert) consumer_cmd=("$b/consumers/alert/clipbus-alert" --config "$cfg" --quiet) ;;
    progress) consumer_cmd=("$b/consumers/progress/clipbus-progress" --config "$cfg" --plain
                            --json "$d/progress.json") ;;
    top) consumer_cmd=("$b/consumers/top/clipbus-top" --config "$cfg" -b -d 1) ;;
  esac
}
