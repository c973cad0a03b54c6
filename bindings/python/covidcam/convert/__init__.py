"""covidcam.convert: PyTorch, ONNX and PaddlePaddle ResNets to covidcam files.

`python3 -m covidcam convert IN -o OUT.safetensors --classes A,B ...` (also
installed as `covidcam-convert`); docs/model-format.md, "Bring your own model".
Needs numpy; ONNX input also needs the onnx package. Files are read without
torch or paddle, and nothing in them is executed (see unpickle.py).
"""
