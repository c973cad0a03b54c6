"""Every route and every error code of covidcam-server, and its answers
against covidcam-classify --json and covidcam-gradcam --json on the same
images."""
import base64
import json
import os
import subprocess
import tempfile
import unittest
import uuid

import serverlib as sl

CLASSIFY = os.environ.get("CC_CLASSIFY", "")
GRADCAM = os.environ.get("CC_GRADCAM", "")


def multipart(fields, boundary=None):
    """A multipart/form-data body: fields is [(name, filename or None, bytes)]."""
    b = boundary or uuid.uuid4().hex
    out = b""
    for name, filename, data in fields:
        disp = 'form-data; name="%s"' % name + ('; filename="%s"' % filename if filename else "")
        out += ("--%s\r\nContent-Disposition: %s\r\nContent-Type: image/png\r\n\r\n"
                % (b, disp)).encode() + data + b"\r\n"
    out += ("--%s--\r\n" % b).encode()
    return out, "multipart/form-data; boundary=" + b


class Api(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = sl.Server("--workers", "2", "--threads-per-worker", "1", "--max-body-mb", "1")
        cls.srv.__enter__()
        # Real X-rays when present, and always one JPEG and one DICOM fixture: every
        # format the library decodes answers as the CLI does.
        fixtures = os.path.join(os.path.dirname(sl.SAMPLE), "")
        cls.images = ([p for _, p in sl.real_images(per_class=2)] or [sl.SAMPLE]) + [
            fixtures + "jpeg/prog_gray_q80.jpg", fixtures + "dicom/mono12_window_jpegls.dcm"]
        if sl.SAMPLE not in cls.images:
            cls.images.append(sl.SAMPLE)

    @classmethod
    def tearDownClass(cls):
        status = cls.srv.stop()
        if status != 0:
            raise AssertionError("server exited with %s; stderr:\n%s" % (status, "".join(cls.srv.log)))

    def assertError(self, status, hdrs, body, code, *words):
        self.assertEqual(status, code, body)
        self.assertIn("application/json", hdrs["Content-Type"])
        self.assertEqual(sorted(body), ["error", "status"], body)
        self.assertTrue(body["error"] and body["status"])
        for w in words:
            self.assertIn(w, body["error"])

    # ------------------------------------------------------------ routes
    def test_healthz(self):
        status, _, body = self.srv.json("GET", "/healthz")
        self.assertEqual((status, body), (200, {"status": "ok"}))

    def test_model(self):
        status, _, m = self.srv.json("GET", "/v1/model")
        self.assertEqual(status, 200)
        meta = sl.model_meta()
        self.assertEqual(m["classes"], json.loads(meta["classes"]))
        self.assertEqual((m["input_size"], m["input_channels"]),
                         (int(meta["input_size"]), int(meta["input_channels"])))
        self.assertEqual(m["arch"], "resnet")
        self.assertEqual(m["precision"], "fp32")
        self.assertIn("image/png", m["media_types"])
        self.assertEqual(json.loads(m["metadata"]["classes"]), m["classes"])
        # the calibration and trust keys the file carries are echoed verbatim
        for key in ("temperature", "resize", "ood_method", "ood_threshold"):
            self.assertEqual(m["metadata"].get(key), meta.get(key), key)
        if GRADCAM:
            import subprocess
            out = subprocess.run([GRADCAM, "--model", sl.MODEL, "--list-layers"], check=True,
                                 capture_output=True, text=True, timeout=60).stdout
            self.assertEqual(m["layers"], out.split())

    def test_page(self):
        status, hdrs, html = self.srv.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertIn("text/html", hdrs["Content-Type"])
        for needle in (b'id="file"', b'id="top-class"', b'id="overlay"', b'id="probs"',
                       b"Not a medical device"):
            self.assertIn(needle, html)
        self.assertNotIn(b"http://", html.replace(b"http://www.w3.org", b""))
        for path, kind in (("/app.js", "javascript"), ("/app.css", "css")):
            status, hdrs, data = self.srv.request("GET", path)
            self.assertEqual(status, 200)
            self.assertIn(kind, hdrs["Content-Type"])
            src = os.path.join(os.environ["CC_SOURCE_ROOT"], "server", "web", path[1:])
            self.assertEqual(data, sl.read(src))

    def test_metrics(self):
        self.srv.request("GET", "/healthz")
        self.srv.request("GET", "/no/such/thing")
        status, hdrs, text = self.srv.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertIn("text/plain", hdrs["Content-Type"])
        text = text.decode()
        self.assertRegex(text, r'covidcam_http_requests_total\{route="healthz",code="200"\} [1-9]')
        self.assertRegex(text, r'covidcam_http_requests_total\{route="other",code="404"\} [1-9]')
        self.assertIn('covidcam_http_request_duration_seconds_bucket{route="healthz",le="+Inf"}', text)
        self.assertIn("covidcam_queue_depth 0", text)
        self.assertIn("covidcam_workers_busy 0", text)
        self.assertIn("covidcam_workers 2", text)
        # Each histogram is cumulative and ends at its count.
        for route in ("healthz", "other"):
            counts = [int(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                      if l.startswith('covidcam_http_request_duration_seconds_bucket{route="%s"' % route)]
            self.assertEqual(counts, sorted(counts))
            total = [l for l in text.splitlines()
                     if l.startswith('covidcam_http_request_duration_seconds_count{route="%s"}' % route)]
            self.assertEqual(int(total[0].rsplit(" ", 1)[1]), counts[-1])

    # ------------------------------------------------------------ results
    @unittest.skipUnless(CLASSIFY, "covidcam-classify not built (-Dexamples=false)")
    def test_classify_equals_cli(self):
        expected = sl.cli_json(CLASSIFY, *self.images)
        for path, want in zip(self.images, expected):
            img = sl.read(path)
            status, hdrs, got = self.srv.classify(img)
            self.assertEqual(status, 200, got)
            self.assertEqual(list(got), list(want))  # same fields, same order
            self.assertEqual(sl.without(got, "file", "ms"), sl.without(want, "file", "ms"), path)
            self.assertEqual(got["file"], "-")
            self.assertGreater(got["ms"], 0)
            # The same as multipart/form-data, named after the upload.
            body, ctype = multipart([("note", None, b"ignored"),
                                     ("file", os.path.basename(path), img)])
            status, _, got = self.srv.json("POST", "/v1/classify", body, {"Content-Type": ctype})
            self.assertEqual(status, 200, got)
            self.assertEqual(got["file"], os.path.basename(path))
            self.assertEqual(sl.without(got, "file", "ms"), sl.without(want, "file", "ms"))

    @unittest.skipUnless(GRADCAM, "covidcam-gradcam not built (-Dexamples=false)")
    def test_gradcam_equals_cli(self):
        cases = [("", []), ("?layer=layer3&class=Normal&method=gradcam%2B%2B&alpha=0.3",
                            ["--layer", "layer3", "--class", "Normal", "--method", "gradcam++",
                             "--alpha", "0.3"]),
                 ("?layer=layer2.0&class=2&method=layercam&alpha=1",
                  ["--layer", "layer2.0", "--class", "2", "--method", "layercam", "--alpha", "1"]),
                 ("?layer=layer3&method=xgradcam&eigen=1&aug=intensity&label=1&alpha=0.5",
                  ["--layer", "layer3", "--method", "xgradcam", "--eigen-smooth", "--aug-smooth",
                   "intensity", "--label", "--alpha", "0.5"])]
        with tempfile.TemporaryDirectory() as tmp:
            for path in self.images[:3]:
                img = sl.read(path)
                for query, args in cases:
                    out = os.path.join(tmp, "overlay.png")
                    want = sl.cli_json(GRADCAM, *args, "-o", out, path)[0]
                    status, _, got = self.srv.gradcam(img, query)
                    self.assertEqual(status, 200, got)
                    png = base64.b64decode(got["overlay_png"], validate=True)
                    self.assertEqual(png, sl.read(out), (path, query))
                    self.assertEqual(sl.without(got, "file", "ms", "alpha", "overlay_png"),
                                     sl.without(want, "file", "ms", "outputs"), (path, query))
                    self.assertEqual(got["alpha"], float(args[-1]) if args else 0.5)
                    # Accept: image/png answers the same PNG itself.
                    status, hdrs, raw = self.srv.request(
                        "POST", "/v1/gradcam" + query, img,
                        {"Content-Type": "image/png", "Accept": "image/png"})
                    self.assertEqual((status, hdrs["Content-Type"]), (200, "image/png"))
                    self.assertEqual(raw, png)

    def test_server_timing(self):
        png = sl.read(sl.SAMPLE)
        for route, parts in (("/v1/classify", ["queue", "model"]),
                             ("/v1/gradcam", ["queue", "model", "overlay"])):
            status, hdrs, data = self.srv.request("POST", route, png, {"Content-Type": "image/png"})
            self.assertEqual(status, 200)
            timing = dict(p.strip().split(";dur=") for p in hdrs["Server-Timing"].split(","))
            self.assertEqual(list(timing), parts)
            self.assertTrue(all(float(v) >= 0 for v in timing.values()))
            self.assertAlmostEqual(float(timing["model"]), json.loads(data)["ms"], delta=0.0015)

    def test_gradcam_fields(self):
        status, _, got = self.srv.gradcam(sl.read(sl.SAMPLE), "?layer=layer4&class=COVID")
        self.assertEqual(status, 200, got)
        self.assertEqual((got["class"], got["layer"], got["method"]), ("COVID", "layer4.1", "gradcam"))
        side = -(-int(sl.model_meta()["input_size"]) // 32)  # layer4 stride 32, rounded up
        self.assertEqual(got["raw_size"], [side, side])
        self.assertEqual(got["probability"], got["probabilities"]["COVID"])
        png = base64.b64decode(got["overlay_png"])
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        self.assertEqual((width, height), (97, 131))  # the upload's own size

    # ------------------------------------------------------------ errors
    def test_404(self):
        self.assertError(*self.srv.json("GET", "/v2/model"), 404, "/v2/model")

    def test_405(self):
        status, hdrs, body = self.srv.json("GET", "/v1/classify")
        self.assertError(status, hdrs, body, 405, "GET", "POST")
        self.assertEqual(hdrs["Allow"], "POST")
        status, hdrs, body = self.srv.json("POST", "/v1/model", b"x")
        self.assertError(status, hdrs, body, 405)
        self.assertEqual(hdrs["Allow"], "GET, HEAD")

    def test_415(self):
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "image/x-unknown"):
            r = self.srv.json("POST", "/v1/classify", sl.read(sl.SAMPLE), {"Content-Type": ctype})
            self.assertError(*r, 415, ctype, "image/png")

    def test_400_body(self):
        png = sl.read(sl.SAMPLE)
        cases = [(b"", "empty body"), (png[:100], "PNG"), (os.urandom(5000), "not a PNG"),
                 (b"GIF89a" + bytes(100), "looks like GIF")]
        for route in ("/v1/classify", "/v1/gradcam"):
            for body, word in cases:
                self.assertError(*self.srv.json("POST", route, body, {"Content-Type": "image/png"}),
                                 400, word)

    def test_400_multipart(self):
        png = sl.read(sl.SAMPLE)
        body, ctype = multipart([("image", "x.png", png)])
        self.assertError(*self.srv.json("POST", "/v1/classify", body, {"Content-Type": ctype}),
                         400, "'file'")
        self.assertError(*self.srv.json("POST", "/v1/classify", body,
                                        {"Content-Type": "multipart/form-data"}), 400, "boundary")

    def test_400_params(self):
        png = sl.read(sl.SAMPLE)
        classes = json.loads(sl.model_meta()["classes"])
        k = len(classes)
        cases = [("?layer=layer9", "layer9", "layer4.1"), ("?class=Flu", "Flu", classes[-1]),
                 ("?class=%d" % k, "'%d'" % k, "[0, %d]" % (k - 1)), ("?method=saliency", "saliency", "layercam"),
                 ("?alpha=1.5", "1.5", "[0, 1]"), ("?alpha=nan", "nan", "[0, 1]"),
                 ("?colour=red", "colour", "alpha"), ("?aug=mirror", "mirror", "intensity"),
                 ("?eigen=2", "eigen", "0 or 1"), ("?label=yes", "label", "0 or 1")]
        for query, *words in cases:
            self.assertError(*self.srv.gradcam(png, query), 400, *words)
        self.assertError(*self.srv.classify(png, "?layer=layer4"), 400, "layer")

    def test_413_content_length(self):
        # Refused from the headers, before any of the body is read.
        with self.srv.connect() as s:
            r = sl.raw_exchange(s, sl.post_head("/v1/classify", (1 << 20) + 1))
        self.assertEqual(r[0], 413)
        self.assertIn("limit", json.loads(r[2])["error"])

    def test_413_chunked(self):
        # No Content-Length: once past the limit the rest is read but not kept.
        with self.srv.connect() as s:
            s.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n" % 65536 + bytes(65536) + b"\r\n"
            try:
                for _ in range(17):
                    s.sendall(chunk)
                s.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            r = sl.read_response(s)
        self.assertIsNotNone(r, "connection closed without an answer")
        self.assertEqual(r[0], 413)

    def test_head(self):
        status, hdrs, body = self.srv.request("HEAD", "/healthz")
        self.assertEqual((status, body), (200, b""))


class Startup(unittest.TestCase):
    def run_server(self, *args, timeout=60):
        return subprocess.run([sl.SERVER, "--model", sl.MODEL, *args], capture_output=True,
                              text=True, timeout=timeout)

    def startup_line(self, *args):
        p = subprocess.Popen([sl.SERVER, "--model", sl.MODEL, "--port", "0", *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline()
        finally:
            p.terminate()
            out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        return line

    def test_default_is_loopback_and_fp32(self):
        # Without --host: 127.0.0.1; without --precision: fp32.
        line = self.startup_line()
        self.assertRegex(line, r"listening on http://127\.0\.0\.1:\d+/ model ")
        classes = ",".join(json.loads(sl.model_meta()["classes"]))
        self.assertIn("classes %s, precision fp32" % classes, line)

    def test_auto_and_bf16(self):
        # auto is int8 for a file with int8 calibration scales, else bf16 where
        # the CPU computes it natively, else fp32 (docs/precision.md)
        scaled = "int8_scales" in sl.model_meta()
        want = "int8" if scaled else "bf16" if sl.bf16_native() else "fp32"
        self.assertIn(", precision %s," % want, self.startup_line("--precision", "auto"))
        if sl.bf16_native():
            self.assertIn(", precision bf16,", self.startup_line("--precision", "bf16"))
        if scaled:
            self.assertIn(", precision int8,", self.startup_line("--precision", "int8"))

    def test_unsupported_precision_shows_library_message(self):
        # int8 of a file without calibration scales (a fixture), bf16 without
        # native bf16: refused at startup with the library's message
        plain = os.path.join(sl.FIXTURES, "basic.safetensors")
        self.assertNotIn("int8_scales", sl.model_meta(plain))
        cases = [(plain, "int8")] + ([] if sl.bf16_native() else [(sl.MODEL, "bf16")])
        for model, precision in cases:
            r = subprocess.run([sl.SERVER, "--model", model, "--port", "0", "--precision", precision],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("unsupported", r.stderr)
            self.assertIn("--precision " + precision, r.stderr)

    def test_usage_errors(self):
        for args, word in ((["--port", "http"], "--port"), (["--workers", "0"], "--workers"),
                           (["--precision", "fp64"], "--precision"), (["--host", "localhost"], "--host"),
                           (["--max-body-mb", "-1"], "--max-body-mb"), (["extra.png"], "unexpected")):
            r = self.run_server("--port", "0", *args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(word, r.stderr)
        r = subprocess.run([sl.SERVER], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--model is required", r.stderr)
        r = self.run_server("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("Usage: covidcam-server", r.stdout)

    def test_bad_model(self):
        r = subprocess.run([sl.SERVER, "--model", sl.SAMPLE, "--port", "0"], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot load model", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
