"""Runs over many images (examples/batch.c, pool.c, progress.c, csv_row.c in
Python): a pool of sessions over the one model does the images in threads
(ctypes releases the GIL during library calls) and the results are written
in input order: stderr messages, the text or --json line, --csv rows, the
--out-dir index files, progress and the summary on stderr."""

import collections
import concurrent.futures
import csv
import io
import os
import queue
import sys

from . import _jsonout, _lib
from ._cli_util import now_ms

NUM_STATUS = 8  # covidcam_status values 0..COVIDCAM_ERR_LIMIT
AHEAD_PER_WORKER = 4
PLAIN_EVERY_MS = 10000.0
BAR_EVERY_MS = 100.0


class Result:
    """obj: the --json dict (None: cannot be formatted); out: stdout text
    without --json; err: stderr lines; status: 0, a status, -1; top."""
    __slots__ = ("obj", "out", "err", "status", "top")

    def __init__(self):
        self.obj, self.out, self.err, self.status, self.top = None, "", "", 0, -1

    def fail(self, prog, file, status, status_name, message):
        self.err += "%s: %s: %s: %s\n" % (prog, file, status_name, message)
        self.obj = _jsonout.file_fields("file", file)
        self.obj.update(status=status_name, error=message)
        self.status = status


def cores():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def plan_workers(items, jobs_opt, threads_opt, threads_set):
    """cli_plan_workers: (workers, oneDNN threads per worker)."""
    n = cores()
    if jobs_opt > 0:
        j = jobs_opt
    elif threads_set and threads_opt > 0:
        j = n // threads_opt
    elif threads_set:
        j = 1
    else:
        j = min(n, 8)
    j = max(1, min(j, items))
    if threads_set:
        t = threads_opt
    else:
        t = 0 if j == 1 else max(1, n // j)
    return j, t


# ------------------------------------------------------------ CSV

def _text(s):
    # U+FFFD for every byte of a name that is not UTF-8, as the JSON has it
    return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in s)


def _value(v):
    if v is None:
        return ""
    if isinstance(v, str):
        return _text(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "; ".join(_text(x) for x in v)
    return _jsonout.dumps(v)


TAIL = ("ood", "ood_score", "warnings", "error", "file_bytes")


class CsvColumns:
    def __init__(self, classes, extra=()):
        self.classes, self.extra = list(classes), list(extra)

    def header(self):
        return ["file", "status", "top"] + self.classes + self.extra + list(TAIL)

    def row(self, obj):
        probs = obj.get("probabilities", {})
        outputs = obj.get("outputs", {})
        return ([_value(obj.get("file")), obj.get("status", "ok"), _value(obj.get("top"))]
                + [_value(probs.get(c)) for c in self.classes]
                + [_value(obj[k] if k in obj else outputs.get(k)) for k in self.extra]
                + [_value(obj.get(k)) for k in TAIL])


def open_csv(prog, path):
    """A csv writer on `path` (RFC 4180: minimal quoting, CRLF), or None."""
    try:
        f = open(path, "w", encoding="utf-8", errors="surrogateescape", newline="")
    except OSError as exc:
        sys.stderr.write("%s: cannot write %s: %s\n" % (prog, path, exc.strerror))
        return None
    return f


def _csv_line(fields):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(fields)
    return buf.getvalue()


# ------------------------------------------------------------ progress

def _eta(s):
    t = int(s + 0.5)
    if t >= 3600:
        return "%dh%02dm" % (t // 3600, t // 60 % 60)
    return "%dm%02ds" % (t // 60, t % 60)


class Progress:
    def __init__(self, prog, classes, total, show):
        self.prog, self.classes, self.total, self.show = prog, classes, total, show
        self.done = self.failed = 0
        self.by_status = [0] * (NUM_STATUS + 1)
        self.by_class = [0] * len(classes)
        self.tty = sys.stderr.isatty()
        self.t0 = self.last = now_ms()
        self.drawn = False

    def clear(self):
        if self.drawn:
            sys.stderr.write("\r\033[K")
        self.drawn = False

    def _draw(self, now):
        s = (now - self.t0) / 1e3
        rate = self.done / s if s > 0 else 0.0
        left = _eta((self.total - self.done) / rate) if rate > 0 else "?"
        pct = int(100.0 * self.done / self.total) if self.total else 100
        if not self.tty:
            sys.stderr.write("%s: %d/%d images (%d%%), %.2f images/s, ETA %s\n"
                             % (self.prog, self.done, self.total, pct, rate, left))
            return
        fill = pct * 30 // 100
        bar = "#" * fill + "." * (30 - fill)
        sys.stderr.write("\r[%s] %d/%d %3d%% %.2f images/s ETA %s\033[K"
                         % (bar, self.done, self.total, pct, rate, left))
        sys.stderr.flush()
        self.drawn = True

    def step(self, status, top):
        self.done += 1
        if status:
            self.failed += 1
            self.by_status[status if 0 < status < NUM_STATUS else NUM_STATUS] += 1
        elif 0 <= top < len(self.classes):
            self.by_class[top] += 1
        if not self.show or self.done == self.total:
            return
        now = now_ms()
        if now - self.last >= (BAR_EVERY_MS if self.tty else PLAIN_EVERY_MS):
            self.last = now
            self._draw(now)

    def finish(self, not_images, not_files):
        self.clear()
        if not self.show:
            return
        lib = _lib.get()
        s = (now_ms() - self.t0) / 1e3
        e = sys.stderr
        e.write("%s: %d images, %d ok, %d failed" % (self.prog, self.done,
                                                     self.done - self.failed, self.failed))
        reasons = ["%s: %d" % (lib.status_string(i).decode() if i < NUM_STATUS
                               else "output error", n)
                   for i, n in enumerate(self.by_status) if i and n]
        e.write(" (%s)\n" % ", ".join(reasons) if reasons else "\n")
        if not_images or not_files:
            e.write("%s: skipped in folders: %d not images, %d not regular files\n"
                    % (self.prog, not_images, not_files))
        e.write("%s: top class:%s\n" % (self.prog, ",".join(
            " %s %d" % (c, n) for c, n in zip(self.classes, self.by_class))))
        e.write("%s: %.2f s, %.2f images/s\n" % (self.prog, s, self.done / s if s > 0 else 0.0))


# ------------------------------------------------------------ the run

def _work(prog, image, sessions, item, i):
    r = Result()
    if item.status:
        r.fail(prog, item.path, item.status,
               _lib.get().status_string(item.status).decode(), item.error)
        return r
    s = sessions.get()
    try:
        image(s, item, i, r)
    finally:
        sessions.put(s)
    return r


def _work_chunk(prog, chunk, sessions, items):
    """work_chunk: the results of consecutive items done with one
    `chunk(session, items, results)` call; the unlistable ones failed here."""
    rs = [Result() for _ in items]
    for item, r in zip(items, rs):
        if item.status:
            r.fail(prog, item.path, item.status,
                   _lib.get().status_string(item.status).decode(), item.error)
    s = sessions.get()
    try:
        chunk(s, items, rs)
    finally:
        sessions.put(s)
    return rs


def run(prog, classes, inputs, sessions, image, json=False, quiet=False, csv_file=None,
        index_csv=None, index_jsonl=None, columns=None, chunk=None, chunk_size=1):
    """Do every input with `image(session, item, i, result)` on a pool of
    len(sessions) workers, or with `chunk` and chunk_size > 1 by chunks of
    chunk_size images, one `chunk(session, items, results)` call each (the
    output is the same); 0 when every image succeeded, else 1."""
    items = inputs.items
    show = not quiet and (len(items) > 1 or inputs.any_folder)
    progress = Progress(prog, classes, len(items), show)
    failed = 0
    csvs = [f for f in (csv_file, index_csv) if f]
    for f in csvs:
        f.write(_csv_line(columns.header()))

    def emit(item, r):
        nonlocal failed
        if r.err:
            progress.clear()
            sys.stderr.write(r.err)
        if json:
            sys.stdout.write((_jsonout.dumps(r.obj) if r.obj is not None else
                              '{"status":"out of memory","error":"cannot format the JSON line"}')
                             + "\n")
        elif r.out:
            sys.stdout.write(r.out)
        sys.stdout.flush()
        if index_jsonl and r.obj is not None:
            index_jsonl.write(_jsonout.dumps(r.obj) + "\n")
            index_jsonl.flush()
        for f in csvs:
            if r.obj is not None:
                f.write(_csv_line(columns.row(r.obj)))
                f.flush()
        if r.status:
            failed = 1
        progress.step(r.status, r.top)

    pool = queue.Queue()
    for s in sessions:
        pool.put(s)
    if chunk is not None and chunk_size > 1:
        # units of chunk_size consecutive images (cli_batch_run's work_chunk)
        units = [items[f:f + chunk_size] for f in range(0, len(items), chunk_size)]

        def work(u):
            return _work_chunk(prog, chunk, pool, units[u])

        def emit_unit(u, rs):
            for item, r in zip(units[u], rs):
                emit(item, r)
    else:
        units = items

        def work(u):
            return _work(prog, image, pool, items[u], u)

        def emit_unit(u, r):
            emit(items[u], r)
    if len(sessions) == 1:
        for u in range(len(units)):
            emit_unit(u, work(u))
    else:
        with concurrent.futures.ThreadPoolExecutor(len(sessions)) as ex:
            pending = collections.deque()
            nxt = 0
            ahead = len(sessions) * AHEAD_PER_WORKER
            for u in range(len(units)):
                while nxt < len(units) and nxt < u + ahead:
                    pending.append(ex.submit(work, nxt))
                    nxt += 1
                emit_unit(u, pending.popleft().result())
    progress.finish(inputs.not_images, inputs.not_files)
    return failed
