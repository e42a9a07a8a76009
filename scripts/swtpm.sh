#!/usr/bin/env bash
# Starts or stops a software TPM 2.0 (swtpm) on loopback, for manual tries
# of the TPM trust store (the tests start their own, one per test, from
# Rust: tests/support/emulators.rs).
#
#   scripts/swtpm.sh start DIR   # prints the TCTI, e.g. swtpm:host=127.0.0.1,port=40123
#   scripts/swtpm.sh stop DIR
#
# DIR holds the TPM's state (keep it to keep the TPM), the pid and the
# port. The server port P and control port P+1 are a free pair on
# 127.0.0.1, never on another address; a restarted TPM keeps its port (the
# one in DIR/swtpm.port), so a store provisioned with its TCTI reaches it
# again.
set -euo pipefail
cmd=${1:?usage: swtpm.sh start|stop DIR}
dir=${2:?usage: swtpm.sh start|stop DIR}
case "$cmd" in
start)
  command -v swtpm >/dev/null || { echo "error: swtpm not found (apt-get install swtpm swtpm-tools)" >&2; exit 3; }
  mkdir -p "$dir"
  if [ -f "$dir/swtpm.pid" ] && kill -0 "$(cat "$dir/swtpm.pid")" 2>/dev/null; then
    echo "error: a swtpm already runs for $dir (pid $(cat "$dir/swtpm.pid"))" >&2; exit 3
  fi
  kept=$(cat "$dir/swtpm.port" 2>/dev/null || true)
  for try in 1 2 3 4 5 6 7 8 9 10; do
    if [ "$try" = 1 ] && [ -n "$kept" ]; then
      port=$kept
    else
      port=$(python3 -c 'import socket
for _ in range(100):
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1)); print(p); break
    except OSError:
        pass
    finally:
        a.close(); b.close()')
    fi
    swtpm socket --tpm2 --tpmstate "dir=$dir" \
      --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
      --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
      --flags not-need-init,startup-clear --daemon --pid "file=$dir/swtpm.pid" 2>"$dir/swtpm.log" || continue
    if [ -n "$kept" ] && [ "$port" != "$kept" ]; then
      echo "warning: port $kept of the earlier run was not free; now $port: stores provisioned with the old TCTI need anchor init --replace" >&2
    fi
    echo "$port" >"$dir/swtpm.port"
    echo "swtpm:host=127.0.0.1,port=$port"
    exit 0
  done
  echo "error: could not start swtpm (see $dir/swtpm.log)" >&2; exit 3
  ;;
stop)
  [ -f "$dir/swtpm.pid" ] || { echo "no swtpm pid file in $dir" >&2; exit 0; }
  kill "$(cat "$dir/swtpm.pid")" 2>/dev/null || true
  rm -f "$dir/swtpm.pid"   # swtpm.port stays: the next start reuses it
  ;;
*) echo "usage: swtpm.sh start|stop DIR" >&2; exit 2 ;;
esac
