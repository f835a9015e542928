# tests/analyzer/lib.sh -- shared by the analyzer's shell tests (POSIX sh).

# wait_port FILE PID LOG: waits until clipapi-serve (PID) has written its
# port to FILE. The server loads the whole corpus before it listens, which
# under ASan on a loaded 2-CPU machine has taken over 5 s; allow 120 s,
# and stop at once, with the server's messages (LOG, or "" if it has
# none), if it exits instead.
wait_port() {
    _f=$1 _pid=$2 _log=$3 _i=0
    while [ ! -s "$_f" ]; do
        if ! kill -0 "$_pid" 2>/dev/null; then
            echo "FAIL: clipapi-serve exited before listening" >&2
            [ -n "$_log" ] && [ -f "$_log" ] && cat "$_log" >&2
            exit 1
        fi
        if [ "$_i" -ge 2400 ]; then
            echo "FAIL: clipapi-serve wrote no port file in 120 s" >&2
            exit 1
        fi
        sleep 0.05
        _i=$((_i + 1))
    done
}
