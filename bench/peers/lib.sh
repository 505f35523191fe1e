# bench/peers/lib.sh: process helpers shared by the peer scripts (sourced, bash).
#
# Every process a script starts goes through bg_start, which records its pid;
# stop_started (installed as an EXIT trap by the scripts) stops exactly those
# pids: SIGTERM, up to 5 s, then SIGKILL.  Nothing is ever stopped by name.

started_pids=()
started_names=()

# bg_start NAME LOGFILE COMMAND...: runs COMMAND in the background with stdout
# and stderr appended to LOGFILE.  `exec` keeps the pid in $! the command's own.
bg_start() {
    local name=$1 log=$2
    shift 2
    (exec "$@" >>"$log" 2>&1 </dev/null) &
    started_pids+=("$!")
    started_names+=("$name")
    last_pid=$!
}

# run_client COMMAND...: runs the measuring client with this script's stdout
# and stderr, recorded like bg_start's processes, and waits for it.  Waiting
# with `wait` rather than in the foreground lets a SIGTERM or SIGINT to the
# script run its traps at once (bash runs traps only between commands, and a
# foreground command may run for --max-seconds).  Returns the client's status.
run_client() {
    "$@" </dev/null &
    started_pids+=("$!")
    started_names+=("${1##*/}")
    local rc=0
    wait "$!" || rc=$?
    return "$rc"
}

# stop_started: SIGTERM every started pid still alive, newest first; SIGKILL
# whatever is left after 5 s.
stop_started() {
    local index pid alive until
    for ((index = ${#started_pids[@]} - 1; index >= 0; index--)); do
        pid=${started_pids[index]}
        kill -TERM "$pid" 2>/dev/null || true
    done
    until=$((SECONDS + 5))
    while ((SECONDS < until)); do
        alive=0
        for pid in "${started_pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        ((alive)) || break
        sleep 0.05
    done
    for ((index = 0; index < ${#started_pids[@]}; index++)); do
        pid=${started_pids[index]}
        if kill -0 "$pid" 2>/dev/null; then
            echo "${0##*/}: ${started_names[index]} (pid $pid) ignored SIGTERM for 5 s; SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    wait 2>/dev/null || true
    started_pids=()
    started_names=()
}

# port_free PORT: true if nothing listens on 127.0.0.1:PORT.
port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_port PORT SECONDS PID: waits until 127.0.0.1:PORT accepts connections,
# while PID lives.  Returns 1 on timeout or if PID died.
wait_port() {
    local port=$1 until=$((SECONDS + $2)) pid=$3
    while ((SECONDS < until)); do
        kill -0 "$pid" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# wait_line FILE TEXT SECONDS PID: waits until FILE holds a line with TEXT,
# while PID lives.
wait_line() {
    local file=$1 text=$2 until=$((SECONDS + $3)) pid=$4
    while ((SECONDS < until)); do
        grep -qF -- "$text" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# need_port PORT: fails the script if 127.0.0.1:PORT is taken.
need_port() {
    if ! port_free "$1"; then
        echo "${0##*/}: 127.0.0.1:$1 is in use; choose another --port" >&2
        exit 1
    fi
}
