"""Concurrency: 8 clients x 25 requests mixing classify and gradcam give the
single-threaded answers; a saturated pool answers 503 with Retry-After and
recovers."""
import base64
import concurrent.futures as cf
import json
import os
import threading
import time
import unittest

import serverlib as sl

CLIENTS, PER_CLIENT = 8, 25


def strip(r):
    return sl.without(r, "ms")


class Load(unittest.TestCase):
    def test_mixed_clients_match_serial(self):
        images = [p for _, p in sl.real_images(per_class=1)] or [sl.SAMPLE]
        bodies = [sl.read(p) for p in images]
        kinds = [("classify", ""), ("gradcam", ""), ("gradcam", "?layer=layer3&method=layercam")]
        jobs = [(k, q, i) for k, q in kinds for i in range(len(bodies))]
        with sl.Server("--workers", "2", "--threads-per-worker", "1", "--queue", "64") as srv:
            def ask(job):
                kind, query, i = job
                status, _, r = getattr(srv, kind)(bodies[i], query)
                return status, strip(r)
            serial = {job: ask(job) for job in jobs}
            for status, r in serial.values():
                self.assertEqual(status, 200, r)

            def client(c):
                got = []
                for n in range(PER_CLIENT):
                    job = jobs[(c * 7 + n) % len(jobs)]
                    got.append((job, ask(job)))
                return got
            with cf.ThreadPoolExecutor(CLIENTS) as ex:
                results = [r for f in [ex.submit(client, c) for c in range(CLIENTS)]
                           for r in f.result(timeout=600)]
            self.assertEqual(len(results), CLIENTS * PER_CLIENT)
            for job, answer in results:
                self.assertEqual(answer, serial[job], job)
            # A request is counted when libmicrohttpd reports it complete, just
            # after its client has the answer: wait (bounded) for the last ones.
            want = len(jobs) + CLIENTS * PER_CLIENT
            deadline = time.monotonic() + 10
            while True:
                status, _, text = srv.request("GET", "/metrics")
                n = sum(int(l.rsplit(" ", 1)[1]) for l in text.decode().splitlines()
                        if l.startswith("covidcam_http_requests_total{route=\"")
                        and 'code="200"' in l and ("classify" in l or "gradcam" in l))
                if n >= want or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(n, want)
            self.assertEqual(srv.stop(), 0, "".join(srv.log))

    def test_saturation_503_then_recovers(self):
        # One worker, one queue slot: of N requests released at once, at most
        # a few can be taken before the first finishes; the rest get 503.
        body = sl.read(sl.SAMPLE)
        n = 12
        head = sl.post_head("/v1/gradcam?layer=layer1", len(body))
        with sl.Server("--workers", "1", "--threads-per-worker", "1", "--queue", "1") as srv:
            _, _, want = srv.gradcam(body, "?layer=layer1")
            socks = [srv.connect() for _ in range(n)]
            for s in socks:  # everything but the last byte
                s.sendall(head + body[:-1])
            for s in socks:
                s.sendall(body[-1:])
            answers = [sl.read_response(s, timeout=120) for s in socks]
            for s in socks:
                s.close()
            codes = sorted(a[0] for a in answers)
            self.assertIn(503, codes)
            self.assertIn(200, codes)
            self.assertEqual(set(codes), {200, 503}, codes)
            for status, hdrs, data in answers:
                r = json.loads(data)
                if status == 503:
                    self.assertEqual(hdrs.get("retry-after"), "1")
                    self.assertEqual(r["status"], "busy")
                    self.assertIn("busy", r["error"])
                else:
                    self.assertEqual(sl.without(r, "ms"), sl.without(want, "ms"))
            # Saturation passes: the next request is served, and counted.
            status, _, r = srv.gradcam(body, "?layer=layer1")
            self.assertEqual((status, sl.without(r, "ms")), (200, sl.without(want, "ms")))
            _, _, text = srv.request("GET", "/metrics")
            self.assertIn('covidcam_http_requests_total{route="gradcam",code="503"} %d'
                          % codes.count(503), text.decode())
            self.assertEqual(srv.stop(), 0, "".join(srv.log))


if __name__ == "__main__":
    unittest.main(verbosity=2)
