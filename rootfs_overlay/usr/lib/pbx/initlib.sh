# Shared by the PBX appliance's init scripts (sourced, not run).
#
# Every path starts from PBX_ROOT (empty on the box), so that the scripts run
# unchanged in a scratch root: tests/unit/box/test_init_scripts.py sets
# PBX_ROOT, PBX_DATA and PATH (with fake commands) and drives start, stop,
# restart and status as init would.
#
# A service is one pbx-supervise process (pid in $PBX_RUN/NAME.pid) that runs
# the daemon and restarts it with back-off when it dies.

PBX_ROOT="${PBX_ROOT:-}"
# shellcheck source=/dev/null
[ -r "$PBX_ROOT/etc/pbx/board.env" ] && . "$PBX_ROOT/etc/pbx/board.env"
# shellcheck source=../../../etc/default/pbx
[ -r "$PBX_ROOT/etc/default/pbx" ] && . "$PBX_ROOT/etc/default/pbx"

PBX_DATA="${PBX_DATA:-/data}"
PBX_RUN="${PBX_RUN:-$PBX_ROOT/run/pbx}"
PBX_LOG_DIR="${PBX_LOG_DIR:-$PBX_DATA/logs}"
PBX_SUPERVISE="${PBX_SUPERVISE:-$PBX_ROOT/usr/sbin/pbx-supervise}"
PBX_START_TIMEOUT="${PBX_START_TIMEOUT:-5}"
PBX_STOP_TIMEOUT="${PBX_STOP_TIMEOUT:-10}"
export PBX_DATA PBX_RUN PBX_LOG_DIR PBX_STOP_TIMEOUT

pbx_pidfile() { echo "$PBX_RUN/$1.pid"; }

# Prints the supervisor's pid of service $1 if it is alive, fails otherwise.
pbx_pid() {
	pidfile=$(pbx_pidfile "$1")
	[ -r "$pidfile" ] || return 1
	pid=$(cat "$pidfile" 2>/dev/null)
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	# A recycled pid belongs to some other program: not ours.
	if [ -r "/proc/$pid/cmdline" ]; then
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q pbx-supervise || return 1
	fi
	echo "$pid"
}

# LSB status codes: 0 running, 1 dead with a stale pid file, 3 stopped.
pbx_status() {
	if pid=$(pbx_pid "$1"); then
		echo "$1 is running (supervisor pid $pid)"
		return 0
	fi
	if [ -e "$(pbx_pidfile "$1")" ]; then
		echo "$1 is dead but its pid file exists"
		return 1
	fi
	echo "$1 is stopped"
	return 3
}

# pbx_start NAME COMMAND [ARG...]: start the supervised daemon unless it runs.
pbx_start() {
	name="$1"; shift
	if pid=$(pbx_pid "$name"); then
		echo "$name already running (supervisor pid $pid)"
		return 0
	fi
	pidfile=$(pbx_pidfile "$name")
	rm -f "$pidfile" "${pidfile%.pid}.state"
	mkdir -p "$PBX_RUN" "$PBX_LOG_DIR" 2>/dev/null
	logfile="$PBX_LOG_DIR/$name.log"
	printf 'Starting %s: ' "$name"
	# setsid: the daemon must not die with the session that started it.
	if command -v setsid >/dev/null 2>&1; then
		setsid "$PBX_SUPERVISE" -n "$name" -p "$pidfile" -l "$logfile" -- "$@" \
			</dev/null >/dev/null 2>&1 &
	else
		"$PBX_SUPERVISE" -n "$name" -p "$pidfile" -l "$logfile" -- "$@" \
			</dev/null >/dev/null 2>&1 &
	fi
	waited=0
	while [ "$waited" -lt $((PBX_START_TIMEOUT * 10)) ]; do
		if pbx_pid "$name" >/dev/null; then
			echo "OK"
			return 0
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
	echo "FAIL"
	return 1
}

# pbx_stop NAME: stop the supervisor, which stops the daemon.
pbx_stop() {
	name="$1"
	pidfile=$(pbx_pidfile "$name")
	printf 'Stopping %s: ' "$name"
	if ! pid=$(pbx_pid "$name"); then
		rm -f "$pidfile" "${pidfile%.pid}.state"
		echo "OK (not running)"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null
	# The supervisor gives the daemon PBX_STOP_TIMEOUT seconds; wait a bit more.
	waited=0
	limit=$(( (PBX_STOP_TIMEOUT + 5) * 10 ))
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$waited" -ge "$limit" ]; then
			child=$(sed -n 's/^child=//p' "${pidfile%.pid}.state" 2>/dev/null)
			kill -KILL "$pid" ${child:+"$child"} 2>/dev/null
			break
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
	rm -f "$pidfile" "${pidfile%.pid}.state"
	echo "OK"
	return 0
}

# pbx_main NAME ACTION: the start/stop/restart/status dispatch of a script
# that defines pbx_run (runs pbx_start NAME with its command line).
pbx_main() {
	name="$1"
	case "$2" in
	start) pbx_run ;;
	stop) pbx_stop "$name" ;;
	restart | reload) pbx_stop "$name"; pbx_run ;;
	status) pbx_status "$name" ;;
	*)
		echo "Usage: $0 {start|stop|restart|reload|status}"
		return 1
		;;
	esac
}
