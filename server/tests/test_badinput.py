"""Hostile and broken requests: the server answers each with a JSON error,
stays up and keeps answering correctly; it exits cleanly (no leak under ASan)
and finishes in-flight requests on SIGTERM."""
import json
import os
import signal
import socket
import time
import unittest

import serverlib as sl


class BadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.png = sl.read(sl.SAMPLE)
        cls.srv = sl.Server("--workers", "1", "--timeout-s", "2", "--max-body-mb", "8")
        cls.srv.__enter__()
        _, _, cls.want = cls.srv.classify(cls.png)

    @classmethod
    def tearDownClass(cls):
        status = cls.srv.stop()
        if status != 0:
            raise AssertionError("server exited with %s:\n%s" % (status, "".join(cls.srv.log)))

    def tearDown(self):
        # After every case the server is alive and still right.
        self.assertTrue(self.srv.alive())
        status, _, r = self.srv.classify(self.png)
        self.assertEqual((status, sl.without(r, "ms")), (200, sl.without(self.want, "ms")))

    def post(self, body, ctype="image/png", route="/v1/classify"):
        return self.srv.json("POST", route, body, {"Content-Type": ctype})

    def test_empty_truncated_random(self):
        cases = [b"", self.png[:8], self.png[:33], self.png[:len(self.png) // 2],
                 self.png[:-12], os.urandom(1), os.urandom(100000),
                 self.png[:8] + os.urandom(2000)]
        for body in cases:
            for route in ("/v1/classify", "/v1/gradcam"):
                status, _, r = self.post(body, route=route)
                self.assertEqual(status, 400, (len(body), r))
                self.assertEqual(sorted(r), ["error", "status"])

    def test_huge_png_dimensions(self):
        # A valid header announcing 100000 x 100000 pixels: refused from IHDR.
        import struct
        import zlib
        ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)
        chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
        status, _, r = self.post(b"\x89PNG\r\n\x1a\n" + chunk)
        self.assertEqual(status, 413, r)
        self.assertIn("100000", r["error"])

    def test_200mb_body_refused_before_read(self):
        size = 200 << 20
        with self.srv.connect() as s:
            s.sendall(sl.post_head("/v1/classify", size))
            sent = 0
            s.settimeout(5)
            try:  # what the server reads before it answers is far from 200 MB
                while sent < (4 << 20):
                    s.sendall(bytes(65536))
                    sent += 65536
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                pass
            r = sl.read_response(s)
        self.assertIsNotNone(r)
        self.assertEqual(r[0], 413)
        self.assertIn("209715200", json.loads(r[2])["error"])

    def test_malformed_multipart(self):
        b = "XyZ"
        good_head = ('--%s\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
                     'Content-Type: image/png\r\n\r\n' % b).encode()
        ctype = "multipart/form-data; boundary=" + b
        cases = [
            b"not multipart at all",
            good_head + self.png[:100],                       # no closing boundary
            good_head + self.png + b"\r\n--%s--\r\n" % b"Other",  # wrong boundary
            b"--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--\r\n",  # no name
            good_head + os.urandom(3000) + b"\r\n--XyZ--\r\n",  # a file that is not an image
        ]
        for body in cases:
            status, _, r = self.post(body, ctype)
            self.assertEqual(status, 400, (body[:60], r))

    def test_non_utf8_and_control_bytes(self):
        # A file name that is not UTF-8 is answered with '?' for those bytes.
        b = b"Bnd"
        body = (b'--Bnd\r\nContent-Disposition: form-data; name="file"; filename="x\xff\xfe.png"'
                b"\r\nContent-Type: image/png\r\n\r\n" + self.png + b"\r\n--Bnd--\r\n")
        status, _, r = self.post(body, "multipart/form-data; boundary=Bnd")
        self.assertEqual(status, 200, r)
        self.assertEqual(r["file"], "x??.png")
        self.assertEqual(sl.without(r, "file", "ms"), sl.without(self.want, "file", "ms"))
        # Bad bytes in a parameter or the path still get a JSON error.
        status, _, r = self.srv.json("POST", "/v1/gradcam?layer=%FF%0Alayer4", self.png,
                                     {"Content-Type": "image/png"})
        self.assertEqual(status, 400)
        self.assertIn("unknown layer", r["error"])
        status, _, r = self.srv.json("GET", "/%FF%0A%1B[31mred")
        self.assertEqual(status, 404)
        self.assertIn("no such resource", r["error"])
        status, _, r = self.post(self.png, "image/\xe9t\xe9".encode("latin-1").decode("latin-1"))
        self.assertEqual(status, 415)

    def test_slow_client_times_out(self):
        # Half a request line, then silence: closed after --timeout-s 2.
        with self.srv.connect() as s:
            s.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\n")
            t0 = time.monotonic()
            s.settimeout(30)
            data = s.recv(1000)
            elapsed = time.monotonic() - t0
        self.assertEqual(data, b"")
        self.assertGreater(elapsed, 1.0)
        self.assertLess(elapsed, 15.0)

    def test_slow_body_times_out(self):
        with self.srv.connect() as s:
            s.sendall(sl.post_head("/v1/classify", len(self.png)) + self.png[:100])
            s.settimeout(30)
            self.assertEqual(s.recv(1000), b"")

    def test_garbage_request_line(self):
        for junk in (b"\x00\x01\x02\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"G" * 70000 + b"\r\n\r\n"):
            with self.srv.connect() as s:
                try:
                    s.sendall(junk)
                    s.settimeout(30)
                    s.recv(1000)  # an error status or a close, never a hang
                except (ConnectionResetError, BrokenPipeError):
                    pass

    def test_client_disconnects_mid_upload(self):
        for _ in range(5):
            with self.srv.connect() as s:
                s.sendall(sl.post_head("/v1/gradcam", len(self.png)) + self.png[:500])


class Shutdown(unittest.TestCase):
    def test_sigterm_finishes_in_flight(self):
        png = sl.read(sl.SAMPLE)
        with sl.Server("--timeout-s", "20", quiet=False) as srv:
            _, _, want = srv.classify(png)
            s = srv.connect()
            s.sendall(sl.post_head("/v1/classify", len(png)) + png[:1000])
            time.sleep(0.3)
            srv.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            # No new connections once shutdown has begun...
            with self.assertRaises(OSError):
                socket.create_connection((sl.HOST, srv.port), timeout=5).close()
            # ...but the request in progress is answered.
            r = sl.raw_exchange(s, png[1000:])
            s.close()
            self.assertEqual(r[0], 200)
            self.assertEqual(sl.without(json.loads(r[2]), "ms"), sl.without(want, "ms"))
            srv.proc.wait(60)
            self.assertEqual(srv.stop(), 0, "".join(srv.log))
            self.assertIn("POST /v1/classify 200", "".join(srv.log))


if __name__ == "__main__":
    unittest.main(verbosity=2)
