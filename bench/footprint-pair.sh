#!/bin/bash
# Two vigil builds side by side, at the same moment, each as a three-node
# cluster (`lan`, both peers up) on the loopback of a network namespace of
# its own; node a of each measured over the same window: RSS split into the
# executable's pages (file) and the heap (anon), median of one sample a
# second, and CPU % of a core. On a machine others load, a window both
# builds share compares them more fairly than windows one after the other
# (bench/footprint.ts --compare). Root only; nothing leaves the namespaces.
#
#   bench/footprint-pair.sh OLD_BIN NEW_BIN [SETTLE_S=30] [WINDOW_S=60] [ROUNDS=3]
#
# RssFile counts the executable's pages the kernel maps, which depends on
# the page cache's state of the file (fault-around maps cached neighbours):
# the same binary read 33.5 or 36.3 MiB at different times. So both builds
# run from copies written the same way at the start, read whole before
# each round.
set -euo pipefail
DIR=$(mktemp -d /tmp/vigil-pair-XXXXXX)
cat "$1" > "$DIR/old-vigil"
cat "$2" > "$DIR/new-vigil"
chmod 755 "$DIR/old-vigil" "$DIR/new-vigil"
OLD=$DIR/old-vigil NEW=$DIR/new-vigil SETTLE=${3:-30} WINDOW=${4:-60} ROUNDS=${5:-3}
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
"$NEW" keygen "$DIR/vigil.key" > /dev/null
cat > "$DIR/vigil.yaml" <<YAML
cluster:
  name: pair
  key_file: $DIR/vigil.key
  heartbeat: { preset: lan }
  nodes:
    - { name: a, addresses: [127.0.0.1] }
    - { name: b, addresses: [127.0.0.2] }
    - { name: c, addresses: [127.0.0.3] }
web: { listen: "127.0.0.1:0" }
console: { tls: false }
YAML
# One cluster in a namespace of its own; prints node a's PID, then waits for its daemons.
cat > "$DIR/cluster.sh" <<'SH'
#!/bin/sh
ip link set lo up
for n in a b c; do
  mkdir -m 700 -p "$2/state-$n"
  "$1" run --config "$3" --node $n --state-dir "$2/state-$n" --log-format json --listen 127.0.0.1:0 > "$2/$n.log" 2>&1 &
  echo $! >> "$2/pids"
done
wait
SH
chmod +x "$DIR/cluster.sh"

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
mem() { awk '/^(VmRSS|RssAnon|RssFile):/ {printf "%s ", $2} END {print ""}' "/proc/$1/status"; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

echo "round build rss_mib file_mib anon_mib cpu_pct load"
for r in $(seq 1 "$ROUNDS"); do
  cat "$OLD" "$NEW" > /dev/null
  declare -A LEAD=()
  for w in old new; do
    bin=$OLD; [ $w = new ] && bin=$NEW
    mkdir -p "$DIR/$r-$w"
    unshare -n "$DIR/cluster.sh" "$bin" "$DIR/$r-$w" "$DIR/vigil.yaml" &
    PIDS+=($!)
  done
  sleep 2
  for w in old new; do
    while [ "$(wc -l < "$DIR/$r-$w/pids" 2>/dev/null || echo 0)" -lt 3 ]; do sleep 0.2; done
    mapfile -t ps < "$DIR/$r-$w/pids"
    PIDS+=("${ps[@]}")
    LEAD[$w]=${ps[0]}
  done
  sleep "$SETTLE"
  t0o=$(ticks "${LEAD[old]}"); t0n=$(ticks "${LEAD[new]}"); s0=$(date +%s.%N)
  for i in $(seq 1 "$WINDOW"); do
    sleep 1
    mem "${LEAD[old]}" >> "$DIR/$r-old/mem"
    mem "${LEAD[new]}" >> "$DIR/$r-new/mem"
  done
  el=$(echo "$(date +%s.%N) - $s0" | bc)
  t1o=$(ticks "${LEAD[old]}"); t1n=$(ticks "${LEAD[new]}")
  load=$(cut -d' ' -f1 /proc/loadavg)
  for w in old new; do
    d=$((t1n - t0n)); [ $w = old ] && d=$((t1o - t0o))
    rss=$(awk '{print $1}' "$DIR/$r-$w/mem" | median)
    anon=$(awk '{print $2}' "$DIR/$r-$w/mem" | median)
    file=$(awk '{print $3}' "$DIR/$r-$w/mem" | median)
    # CLK_TCK ticks per second of CPU, so ticks per second of wall time is % of a core / 100 * 100.
    printf "%s %s %.1f %.1f %.1f %.3f %s\n" "$r" $w "$(echo "$rss/1024" | bc -l)" "$(echo "$file/1024" | bc -l)" "$(echo "$anon/1024" | bc -l)" "$(echo "$d * 100 / $(getconf CLK_TCK) / $el" | bc -l)" "$load"
  done
  for w in old new; do for p in $(cat "$DIR/$r-$w/pids"); do kill "$p" 2>/dev/null || true; done; done
  sleep 2
done
