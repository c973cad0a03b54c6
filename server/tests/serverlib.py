"""Start covidcam-server on a free loopback port for a test, talk to it, and
always stop it. Standard library only.

Environment (set by server/tests/meson.build): CC_SERVER, CC_CLASSIFY,
CC_GRADCAM (the programs), CC_MODEL, CC_FIXTURES, CC_SHARED_DATA,
CC_OUT_DIR (where tests may write)."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

HOST = "127.0.0.1"
START_TIMEOUT = 60  # seconds; model load and sessions (slower under ASan)
STOP_TIMEOUT = 60

SERVER = os.environ.get("CC_SERVER", "")
MODEL = os.environ.get("CC_MODEL", "")
FIXTURES = os.environ.get("CC_FIXTURES", "")
SHARED = os.environ.get("CC_SHARED_DATA", "")
SAMPLE = os.path.join(FIXTURES, "sample_97x131.png")


def bf16_native():
    """Whether a bf16 session should work here, decided without the library:
    the CPU flags have avx512_bf16 or amx_bf16 and ONEDNN_MAX_CPU_ISA does not
    cap oneDNN below AVX512_CORE_BF16."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(w for line in f if line.startswith("flags")
                        for w in line.split(":", 1)[1].split())
    except OSError:
        return False
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    below = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI"}
    return bool(flags & {"avx512_bf16", "amx_bf16"}) and cap not in below


def real_images(per_class=None):
    """(class, path) of the shipped model's self-test images that exist, from
    tests/shipped_model_images.txt; [] when the shared data is absent."""
    listing = os.path.join(os.environ.get("CC_SOURCE_ROOT", ""), "tests", "shipped_model_images.txt")
    out, seen = [], {}
    with open(listing) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cls, rel = line.split()[:2]
            path = os.path.join(SHARED, rel)
            if os.path.isfile(path) and seen.get(cls, 0) < (per_class or 99):
                seen[cls] = seen.get(cls, 0) + 1
                out.append((cls, path))
    return out


def model_meta(path=None):
    """The __metadata__ of a safetensors model (the facts tests compare with)."""
    with open(path or MODEL, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n)).get("__metadata__", {})


def read(path):
    with open(path, "rb") as f:
        return f.read()


class Server:
    """A running covidcam-server; use as a context manager."""

    def __init__(self, *args, quiet=True):
        self.args = [SERVER, "--model", MODEL, "--host", HOST, "--port", "0"]
        self.args += ["--quiet"] if quiet else []
        self.args += list(args)
        self.proc = None
        self.port = None
        self.log = []
        self.startup = ""

    def __enter__(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self._drain(self.proc.stderr)
        deadline = time.monotonic() + START_TIMEOUT
        line = self._readline(deadline)
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line or "")
        if not m:
            self.stop()
            raise RuntimeError("server did not start: %r; stderr: %s" % (line, "".join(self.log)))
        self.startup = line
        self.port = int(m.group(1))
        return self

    def __exit__(self, *exc):
        self.stop()

    def _drain(self, stream):
        def run():
            for line in stream:
                self.log.append(line)
        self._log_thread = threading.Thread(target=run, daemon=True)
        self._log_thread.start()

    def _readline(self, deadline):
        box = []
        t = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(max(0.0, deadline - time.monotonic()))
        return box[0] if box else None

    def stop(self):
        """SIGTERM, wait, SIGKILL if needed; returns the exit status."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_thread.join(10)  # the whole stderr, for failure messages
        for stream in (self.proc.stdout, self.proc.stderr):
            if not stream.closed and not self._log_thread.is_alive():
                stream.close()
        return self.proc.returncode

    def alive(self):
        return self.proc.poll() is None

    def url(self, path):
        return "http://%s:%d%s" % (HOST, self.port, path)

    def request(self, method, path, body=None, headers=None, timeout=60):
        """(status, headers, body bytes); HTTP errors are returned, not raised."""
        req = urllib.request.Request(self.url(path), data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def json(self, method, path, body=None, headers=None, timeout=60):
        status, hdrs, data = self.request(method, path, body, headers, timeout)
        return status, hdrs, json.loads(data)

    def classify(self, img, query=""):
        return self.json("POST", "/v1/classify" + query, img, {"Content-Type": "image/png"})

    def gradcam(self, img, query=""):
        return self.json("POST", "/v1/gradcam" + query, img, {"Content-Type": "image/png"})

    def connect(self, timeout=30):
        s = socket.create_connection((HOST, self.port), timeout=timeout)
        return s


def raw_exchange(sock, data, timeout=30):
    """Send `data`, read until the server closes or a full response is in;
    returns (status, headers dict, body) or None if the connection closed first."""
    sock.sendall(data)
    return read_response(sock, timeout)


def read_response(sock, timeout=30):
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return None
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for l in lines[1:]:
        k, v = l.split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(body) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, hdrs, body


def post_head(path, length, ctype="image/png", extra=""):
    return ("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n"
            % (path, HOST, ctype, length, extra)).encode()


def cli_json(program, *args):
    """The JSON lines a command-line program prints, parsed."""
    out = subprocess.run([program, "--model", MODEL, "--json", *args], check=True,
                         capture_output=True, text=True, timeout=300).stdout
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def without(d, *keys):
    return {k: v for k, v in d.items() if k not in keys}
