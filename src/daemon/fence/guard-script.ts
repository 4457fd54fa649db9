/**
 * The fencing watchdog's program: a bash script, run by the daemon as a
 * child (`bash -c SCRIPT`), so the watchdog costs a few MiB of a shell
 * instead of a second copy of the runtime. What it is told, and what it
 * does with it, is described in guard.ts; the script is kept to plain
 * bash 4.2+ builtins (read -t, associative arrays, printf %(...)T) plus
 * `ip`, `sleep` and `kill`, which every host running vigil has.
 *
 * (In this TypeScript string, bash's "\${" and backslashes are escaped.)
 */
export const FENCE_GUARD_SCRIPT = `# The fencing watchdog (see guard.ts for what it is told and why).
# Signals that reach the daemon's process group are not for us: the daemon
# stops what it runs, then closes our stdin.
trap '' INT TERM HUP PIPE
declare -A vips=() held=() deadline=() pvips=() stops=() fencing=()
node="" logfile="" logfmt=json dead=0

now() { local up _; read -r up _ < /proc/uptime; NOW=$(( 10#\${up/./} * 10 )); }
dec() { local s=\${1//%/\\\\x}; printf -v REPLY '%b' "$s"; }
js() { local s=\${1//\\\\/\\\\\\\\}; s=\${s//\\"/\\\\\\"}; s=\${s//$'\\t'/\\\\t}; s=\${s//$'\\n'/\\\\n}; REPLY="\\"$s\\""; }
secs() { printf -v REPLY '%d.%03d' $(( $1 / 1000 )) $(( $1 % 1000 )); }

# A log line: JSON to the daemon while it reads our stderr; once it is gone, to its log file
# in the daemon's own line format (text or JSON, the time in UTC with milliseconds first).
say() {
  local level=$1 msg=$2 line v plain='^[^[:space:]"=]+$'; shift 2
  if (( ! dead )); then
    js "$msg"; line="{\\"level\\":\\"$level\\",\\"msg\\":$REPLY"
    while (( $# >= 2 )); do js "$2"; line+=",\\"$1\\":$REPLY"; shift 2; done
    printf '%s}\\n' "$line" >&2
    return
  fi
  [[ -n $logfile ]] || return
  stamp
  if [[ $logfmt == text ]]; then
    printf -v line '%s %-5s %s' "$REPLY" "$level" "$msg"
    while (( $# >= 2 )); do
      v=$2
      if [[ $v =~ $plain ]]; then line+=" $1=$v"; else js "$v"; line+=" $1=$REPLY"; fi
      shift 2
    done
    printf '%s\\n' "$line" >> "$logfile"
  else
    line="{\\"time\\":\\"$REPLY\\",\\"level\\":\\"$level\\""; js "$msg"; line+=",\\"msg\\":$REPLY"
    while (( $# >= 2 )); do js "$2"; line+=",\\"$1\\":$REPLY"; shift 2; done
    printf '%s}\\n' "$line" >> "$logfile"
  fi
}

# Now as the daemon writes times, 2026-12-07T09:52:08.080Z (the milliseconds need bash 5's EPOCHREALTIME).
stamp() {
  local t=\${EPOCHREALTIME-} ms=000 s=-1
  if [[ -n $t ]]; then s=\${t%[.,]*}; ms=\${t#*[.,]}000; ms=\${ms:0:3}; fi
  TZ=UTC0 printf -v REPLY '%(%Y-%m-%dT%H:%M:%S)T' "$s"
  REPLY+=".\${ms}Z"
}

vip_del() { # address[/prefix] interface owner: removed with the prefix it was added with (the kernel matches it)
  local out a=$1
  [[ $a == */* ]] || a+=/32
  if out=$(ip addr del "$a" dev "$2" 2>&1); then say warn "fence watchdog: VIP removed" module "$3" vip "$1" interface "$2"
  elif [[ $out != *"Cannot assign requested address"* && $out != *"Address not found"* ]]; then
    say error "fence watchdog: VIP not removed" module "$3" vip "$1" interface "$2" detail "$out"
  fi
}

# A stop, bounded: SIGTERM to its process group at its timeout, SIGKILL a grace later.
run_stop() { # module timeout_ms grace_ms command args...
  local m=$1 t=$2 g=$3 pid killer rc; shift 3
  secs "$t"; local ts=$REPLY; secs "$g"; local gs=$REPLY
  set -m # job control for these two spawns only: each gets a process group of its own
  ( trap - INT TERM HUP PIPE; export VIGIL_MODULE="$m" VIGIL_NODE="$node" VIGIL_REASON=fenced; exec "$@" ) </dev/null >/dev/null 2>&1 &
  pid=$!
  ( trap - TERM; sleep "$ts"; kill -TERM -- "-$pid" 2>/dev/null; sleep "$gs"; kill -KILL -- "-$pid" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
  killer=$!
  set +m
  wait "$pid"; rc=$?
  kill -KILL -- "-$killer" 2>/dev/null
  if (( rc == 0 )); then say warn "fence watchdog: stop ran" module "$m" command "$*" detail "exited 0"
  elif (( rc > 128 )); then say error "fence watchdog: stop failed" module "$m" command "$*" detail "killed by signal $(( rc - 128 )) (timeout \${t} ms)"
  else say error "fence watchdog: stop failed" module "$m" command "$*" detail "exited $rc"; fi
}

# Takes a module down here: its VIPs first and all of them, then its stops in the order given.
fence() { # module why
  local m=$1 line i a f
  say warn "fence watchdog: $2, fencing the module here" module "$m"
  while IFS=$'\\t' read -r -a f; do
    (( \${#f[@]} >= 2 )) && vip_del "\${f[0]}" "\${f[1]}" "$m"
  done <<< "\${pvips[$m]-}"
  while IFS=$'\\t' read -r -a f; do
    (( \${#f[@]} >= 3 )) || continue
    a=()
    for i in "\${!f[@]}"; do dec "\${f[$i]}"; a+=("$REPLY"); done
    run_stop "$m" "\${a[@]}"
  done <<< "\${stops[$m]-}"
  say warn "fence watchdog: module fenced" module "$m"
}

handle() { # the fields of one line are in f
  local m=\${f[1]-} k
  case \${f[0]} in
    node) dec "$m"; node=$REPLY ;;
    logfile) dec "$m"; logfile=$REPLY; [[ \${f[2]-} == text ]] && logfmt=text || logfmt=json ;;
    vip+) vips["\${f[1]} \${f[2]}"]=1 ;;
    vip-) k="\${f[1]} \${f[2]}"; unset 'vips[$k]' ;;
    plan) pvips[$m]=""; stops[$m]="" ;;
    pvip) pvips[$m]+="\${f[2]}"$'\\t'"\${f[3]}"$'\\n' ;;
    stop) local IFS=$'\\t'; stops[$m]+="\${f[*]:2}"$'\\n' ;;
    hold) held[$m]=1 ;;
    free) unset 'held[$m]' ;;
    arm) now; deadline[$m]=$(( NOW + f[2] )) ;;
    disarm) unset 'deadline[$m]' ;;
    *) say error "fence watchdog: message ignored" detail "\${f[0]}" ;;
  esac
}

while :; do
  now
  next=""
  for m in "\${!deadline[@]}"; do
    d=\${deadline[$m]}
    if (( d <= NOW )); then
      unset 'deadline[$m]'
      fence "$m" "deadline passed $(( NOW - d )) ms ago" &
      fencing[$m]=$!
    elif [[ -z $next ]] || (( d < next )); then next=$d; fi
  done
  if [[ -n $next ]]; then
    secs $(( next - NOW + 5 ))
    IFS=$'\\t' read -r -t "$REPLY" -a f; rc=$?
  else
    IFS=$'\\t' read -r -a f; rc=$?
  fi
  if (( rc == 0 )); then
    (( \${#f[@]} > 0 )) && handle
  elif (( rc <= 128 )); then
    break # end of input: the daemon is gone
  fi
done

# Whatever ended the daemon, nothing it held may stay: every VIP it added, every module it ran.
dead=1
(( \${#vips[@]} + \${#held[@]} > 0 )) && say warn "fence watchdog: the daemon is gone; removing its VIPs and stopping its modules" vips "\${!vips[*]}" modules "\${!held[*]}"
for k in "\${!vips[@]}"; do vip_del "\${k% *}" "\${k#* }" "(daemon gone)"; done
for m in "\${!held[@]}"; do
  # A fence that its deadline started already is under way.
  [[ -n \${fencing[$m]-} ]] && kill -0 "\${fencing[$m]}" 2>/dev/null && continue
  fence "$m" "the daemon is gone" &
done
wait
# An \`ip addr add\` the daemon had started may have finished after the first pass.
for k in "\${!vips[@]}"; do vip_del "\${k% *}" "\${k#* }" "(daemon gone)"; done
exit 0
`;
