#!/usr/bin/env bash
# The network lab by hand: the same layout as the test lab (test/lab/lab.ts).
#
#   scripts/netlab.sh up [N] [--links 1|2] [--name NAME]   N hosts (default 2) on 1 or 2 links
#   scripts/netlab.sh down [RUN|NAME]                       remove one lab; without argument every lab 'up' made
#   scripts/netlab.sh down --stale                          remove test labs whose test process has died
#   scripts/netlab.sh status                                list labs and how to enter their hosts
#
# Layout: namespace <run>-sw holds bridge br1 (198.51.100.0/24) and br2 (203.0.113.0/24);
# host i lives in <run>-h<i> with eth0 = 198.51.100.(10+i), eth1 = 203.0.113.(10+i), no default route.
# Each lab is recorded in /run/vigil-netlab/<run>; down removes exactly the namespaces listed there
# and kills only the processes inside them. 'up' is idempotent per NAME (default "default").
set -Eeuo pipefail

REG=/run/vigil-netlab
MAX_HOSTS=40
SUBNET1=198.51.100
SUBNET2=203.0.113

die() { echo "netlab: $*" >&2; exit 1; }
usage() { sed -n '3,7p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

need_root() {
  [[ $(id -u) -eq 0 ]] || die "needs root (network namespaces); try: sudo $0 $*"
  command -v ip >/dev/null || die "missing host tool \"ip\": install the Debian package iproute2"
}

rec_get() { sed -n "s/^$2=//p" "$1" | head -n 1; }          # file key
ns_exists() { [[ -e /run/netns/$1 ]]; }
new_run() {
  local run
  while :; do
    run="vl-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
    ip netns list | grep -q "^$run-" || { echo "$run"; return; }
  done
}

# Prints the record file of the netlab-made lab called $1, if any.
find_named() {
  local f
  for f in "$REG"/vl-*; do
    [[ -f $f ]] || continue
    [[ $(rec_get "$f" kind) == netlab && $(rec_get "$f" name) == "$1" ]] && { echo "$f"; return 0; }
  done
  return 1
}

show() { # record file
  local f=$1 run hosts links l h ns
  run=$(rec_get "$f" run); hosts=$(rec_get "$f" hosts); links=$(rec_get "$f" links)
  local kind owner state=""
  kind=$(rec_get "$f" kind); owner=$(rec_get "$f" owner)
  if [[ $kind == test ]]; then
    if kill -0 "$owner" 2>/dev/null; then state=" (test process $owner running)"; else state=" (STALE: test process $owner is gone; 'down --stale' removes it)"; fi
  fi
  local label="made by a test"
  [[ $kind == netlab ]] && label="name $(rec_get "$f" name)"
  echo "netlab $run ($label): $hosts host(s), $links link(s)$state"
  printf '  %-7s %-16s bridges:' switch "$run-sw"
  for ((l = 1; l <= links; l++)); do printf ' br%d' "$l"; done
  ns_exists "$run-sw" || printf '  [missing]'
  echo
  for ((h = 1; h <= hosts; h++)); do
    ns=$run-h$h
    printf '  %-7s %-16s eth0 %s.%d/24' "h$h" "$ns" "$SUBNET1" $((10 + h))
    [[ $links -ge 2 ]] && printf '  eth1 %s.%d/24' "$SUBNET2" $((10 + h))
    ns_exists "$ns" || printf '  [missing]'
    echo
  done
  echo "  enter a host:  ip netns exec $run-h1 bash"
  echo "  remove it:     $0 down $run"
}

teardown() { # record file
  local f=$1 run ns pids p
  run=$(rec_get "$f" run)
  local nss
  read -r -a nss <<<"$(rec_get "$f" namespaces)"
  # Processes started with 'ip netns exec' outlive their namespace's name: stop them first.
  for sig in TERM KILL; do
    pids=""
    for ns in "${nss[@]}"; do ns_exists "$ns" && pids+=" $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"; done
    [[ -z ${pids// /} ]] && break
    for p in $pids; do kill -CONT "$p" 2>/dev/null || true; kill "-$sig" "$p" 2>/dev/null || true; done
    [[ $sig == TERM ]] && sleep 0.5
  done
  # Hosts first, then the switch (the list starts with it).
  for ((i = ${#nss[@]} - 1; i >= 0; i--)); do
    ns=${nss[i]}
    [[ $ns == "$run"-* ]] || { echo "netlab: skipping $ns: not part of $run" >&2; continue; }
    ns_exists "$ns" && ip netns del "$ns"
  done
  rm -f "$f"
  echo "netlab: removed $run"
}

cmd_up() {
  local hosts=2 links=1 name=default
  while [[ $# -gt 0 ]]; do
    case $1 in
      --links) [[ $# -ge 2 ]] || die "--links needs a value (1 or 2)"; links=$2; shift 2 ;;
      --links=*) links=${1#*=}; shift ;;
      --name) [[ $# -ge 2 ]] || die "--name needs a value"; name=$2; shift 2 ;;
      --name=*) name=${1#*=}; shift ;;
      -h | --help) usage 0 ;;
      [0-9]*) hosts=$1; shift ;;
      *) die "up: unknown argument \"$1\"" ;;
    esac
  done
  [[ $hosts =~ ^[0-9]+$ && $hosts -ge 1 && $hosts -le $MAX_HOSTS ]] || die "up: the number of hosts must be 1 to $MAX_HOSTS, got \"$hosts\""
  [[ $links == 1 || $links == 2 ]] || die "up: --links must be 1 or 2, got \"$links\""
  [[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || die "up: --name may hold letters, digits, '.', '_' and '-' only, got \"$name\""
  need_root up

  local f
  if f=$(find_named "$name"); then
    local run ok=1 ns
    run=$(rec_get "$f" run)
    for ns in $(rec_get "$f" namespaces); do ns_exists "$ns" || ok=0; done
    if [[ $ok == 1 && $(rec_get "$f" hosts) == "$hosts" && $(rec_get "$f" links) == "$links" ]]; then
      echo "netlab: already up"
      show "$f"
      return 0
    fi
    [[ $ok == 1 ]] || { echo "netlab: $run is incomplete; rebuilding it"; teardown "$f"; }
    [[ $ok == 0 ]] || die "a lab named \"$name\" ($run) is up with $(rec_get "$f" hosts) host(s) and $(rec_get "$f" links) link(s); run '$0 down $run' first, or pick another --name"
  fi

  local run sw nss=() h l
  run=$(new_run)
  sw=$run-sw
  nss=("$sw")
  for ((h = 1; h <= hosts; h++)); do nss+=("$run-h$h"); done
  mkdir -p "$REG"
  f=$REG/$run
  {
    echo "run=$run"; echo "kind=netlab"; echo "name=$name"; echo "owner=$$"
    echo "hosts=$hosts"; echo "links=$links"; echo "namespaces=${nss[*]}"; echo "created=$(date -u +%FT%TZ)"
  } >"$f"
  trap 'echo "netlab: building $run failed; removing it" >&2; teardown "$f" >&2' ERR

  for ns in "${nss[@]}"; do ip netns add "$ns"; done
  # addrgenmode none keeps IPv6 link-local chatter off the lab's wires.
  {
    echo "link set lo up"
    for ((l = 1; l <= links; l++)); do
      echo "link add br$l type bridge"; echo "link set br$l addrgenmode none"; echo "link set br$l up"
      for ((h = 1; h <= hosts; h++)); do
        echo "link add h${h}l$l type veth peer name eth$((l - 1)) netns $run-h$h"
        echo "link set h${h}l$l addrgenmode none"; echo "link set h${h}l$l master br$l"; echo "link set h${h}l$l up"
      done
    done
  } | ip -n "$sw" -batch -
  for ((h = 1; h <= hosts; h++)); do
    {
      echo "link set lo up"
      for ((l = 1; l <= links; l++)); do
        local subnet=$SUBNET1
        [[ $l == 2 ]] && subnet=$SUBNET2
        echo "link set eth$((l - 1)) addrgenmode none"
        echo "addr add $subnet.$((10 + h))/24 dev eth$((l - 1))"
        echo "link set eth$((l - 1)) up"
      done
    } | ip -n "$run-h$h" -batch -
  done
  trap - ERR
  show "$f"
}

cmd_down() {
  need_root down
  local f found=0 arg=${1:-}
  case $arg in
    "")
      for f in "$REG"/vl-*; do
        [[ -f $f && $(rec_get "$f" kind) == netlab ]] || continue
        teardown "$f"; found=1
      done
      ;;
    --stale)
      for f in "$REG"/vl-*; do
        [[ -f $f && $(rec_get "$f" kind) == test ]] || continue
        kill -0 "$(rec_get "$f" owner)" 2>/dev/null && continue
        teardown "$f"; found=1
      done
      ;;
    vl-*)
      f=$REG/$arg
      if [[ -f $f ]]; then
        local owner
        owner=$(rec_get "$f" owner)
        if [[ $(rec_get "$f" kind) == test ]] && kill -0 "$owner" 2>/dev/null; then
          die "$arg belongs to test process $owner, which is still running; it removes its own lab"
        fi
        teardown "$f"; found=1
      fi
      ;;
    -*) die "down: unknown option \"$arg\"" ;;
    *)
      if f=$(find_named "$arg"); then teardown "$f"; found=1; fi
      ;;
  esac
  [[ $found == 1 ]] || echo "netlab: nothing to remove${arg:+ for $arg}"
}

cmd_status() {
  local f any=0 ns recorded=" "
  for f in "$REG"/vl-*; do
    [[ -f $f ]] || continue
    show "$f"; any=1
    recorded+="$(rec_get "$f" namespaces) "
  done
  [[ $any == 1 ]] || echo "netlab: no labs recorded in $REG"
  if command -v ip >/dev/null; then
    local strays=""
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^vl-' || true); do
      [[ $recorded == *" $ns "* ]] || strays+=" $ns"
    done
    [[ -z $strays ]] || echo "unrecorded lab-like namespaces (not removed by this script):$strays"
  fi
}

case ${1:-} in
  up) shift; cmd_up "$@" ;;
  down) shift; [[ $# -le 1 ]] || die "down takes at most one argument"; cmd_down "$@" ;;
  status) shift; cmd_status ;;
  -h | --help | help) usage 0 ;;
  *) usage ;;
esac
