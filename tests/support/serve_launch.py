"""serve_launch.py — starting and stopping a `lorc serve` process (stdlib
only, no environment needed): the tests' harness, bench/serve_bench.py and
bench/soak.py all launch servers this way."""
import collections
import re
import subprocess
import threading
import time


def launch(cmd, timeout=30, env=None, keep_lines=0):
    """Runs `cmd` (a `lorc serve ... --port 0` command line) and returns
    (process, port) once it prints its address; kills it and raises
    SystemExit when it does not within `timeout` seconds. stderr keeps being
    drained (a full pipe would block the server); with keep_lines > 0 its
    last lines stay in process.log (to show a sanitizer's report; join
    process.drain once the process has exited to have them all)."""
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if m:
            proc.log = collections.deque(maxlen=max(keep_lines, 1))
            proc.drain = threading.Thread(target=lambda: proc.log.extend(proc.stderr), daemon=True)
            proc.drain.start()
            return proc, int(m.group(1))
    proc.kill()
    raise SystemExit(f"lorc serve did not start: {' '.join(cmd[:4])} ...")


def stop(proc, timeout=20):
    """SIGTERM, then SIGKILL after `timeout` seconds; returns the exit status."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return proc.returncode
