"""The ctypes mirrors of the versioned option structs (abi/README.md): their
struct_size is the mirror's own size, and a mirror from a later binding (more
fields at the end) works on this library while those fields keep the default
0, and is refused with UNSUPPORTED otherwise."""

import ctypes
import unittest

import support  # noqa: F401  (puts the package on sys.path)
from covidcam import _lib
from covidcam.errors import Status


class FutureSessionOptions(_lib.SessionOptions):
    _fields_ = [("added_field", ctypes.c_int64)]


class FutureGradcamOptions(_lib.GradcamOptions):
    _fields_ = [("added_field", ctypes.c_int64)]


class OptionsTest(unittest.TestCase):
    def setUp(self):
        self.lib = _lib.get()

    def test_struct_size_is_the_mirror_size(self):
        s = _lib.init_options(self.lib.session_options_init, _lib.SessionOptions())
        g = _lib.init_options(self.lib.gradcam_options_init, _lib.GradcamOptions())
        self.assertEqual(s.struct_size, ctypes.sizeof(_lib.SessionOptions))
        self.assertEqual(g.struct_size, ctypes.sizeof(_lib.GradcamOptions))
        self.assertEqual((s.num_threads, s.precision), (0, 0))
        self.assertEqual((g.method, g.layer, g.target_class), (0, None, -1))

    def create(self, opts):
        model = _lib.model_p()
        err = ctypes.create_string_buffer(_lib.ERRBUF_SIZE)
        st = self.lib.model_load(support.fixture("basic.safetensors").encode(),
                                 ctypes.byref(model), err, len(err))
        self.assertEqual(st, 0, err.value)
        sess = _lib.session_p()
        st = self.lib.session_create(model, ctypes.cast(ctypes.byref(opts),
                                                        ctypes.POINTER(_lib.SessionOptions)),
                                     ctypes.byref(sess), err, len(err))
        self.lib.session_free(sess)
        self.lib.model_free(model)
        return st, err.value.decode()

    def test_future_session_mirror(self):
        f = _lib.init_options(self.lib.session_options_init, FutureSessionOptions())
        self.assertEqual(f.struct_size, ctypes.sizeof(FutureSessionOptions))
        self.assertEqual(self.create(f), (0, ""))
        f.added_field = 3
        st, msg = self.create(f)
        self.assertEqual(st, Status.UNSUPPORTED)
        self.assertIn("byte %d" % FutureSessionOptions.added_field.offset, msg)

    def test_future_gradcam_mirror_size(self):
        f = _lib.init_options(self.lib.gradcam_options_init, FutureGradcamOptions())
        self.assertEqual(f.struct_size, ctypes.sizeof(FutureGradcamOptions))
        self.assertEqual(f.target_class, -1)
        self.assertEqual(f.added_field, 0)


if __name__ == "__main__":
    unittest.main()
