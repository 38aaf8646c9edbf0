#!/usr/bin/env python3
"""Reference PyTorch archives for the C++ torch_archive tests.

Usage:
  make_torch_archives.py OUT_DIR
      Writes the archives listed in main() to OUT_DIR, plus expected.txt
      describing the tensors they hold.
  make_torch_archives.py --describe CHECKPOINT OUT_FILE
      torch.load()s CHECKPOINT (a fairseq2-layout checkpoint), checks its
      layout and writes its model state dict to OUT_FILE in the same format.

Format of the description files, one tab-separated line per tensor:
  tensor NAME DTYPE SHAPE STRIDE OFFSET VALUES
SHAPE and STRIDE are comma-separated (empty for a 0-dim tensor), VALUES are
space-separated in row-major (logical) order: repr() of float values (exact
for every float dtype), ints for integer dtypes, 0/1 for bools.

Needs torch 1.13 (run with /usr/bin/python3 on the build machine).
"""

import collections
import datetime
import io
import os
import pickle
import sys
import zipfile

import torch


def describe_tensor(name, t):
    shape = ",".join(str(s) for s in t.shape)
    stride = ",".join(str(s) for s in t.stride())
    flat = t.detach().reshape(-1)
    if t.dtype == torch.bool:
        values = [str(int(v)) for v in flat.tolist()]
    elif t.dtype.is_floating_point:
        values = [repr(v) for v in flat.double().tolist()]  # exact for every float dtype
    else:
        values = [str(int(v)) for v in flat.tolist()]
    dtype = str(t.dtype).replace("torch.", "")
    return "\t".join(["tensor", name, dtype, shape, stride, str(t.storage_offset()), " ".join(values)])


def write_description(path, named_tensors, extra_lines=()):
    with open(path, "w", encoding="utf-8") as f:
        for line in extra_lines:
            f.write(line + "\n")
        for name, t in named_tensors.items():
            f.write(describe_tensor(name, t) + "\n")


def fs2_state_dict():
    g = torch.Generator().manual_seed(1234)
    sd = collections.OrderedDict()
    sd["encoder.f32"] = torch.randn(3, 4, generator=g)
    sd["encoder.f64"] = torch.randn(3, generator=g, dtype=torch.float64)
    sd["encoder.bf16"] = torch.randn(5, generator=g).to(torch.bfloat16)
    sd["encoder.f16"] = torch.randn(2, 3, generator=g).to(torch.float16)
    sd["encoder.i64"] = torch.tensor([-(2 ** 40), -1, 0, 7, 2 ** 62], dtype=torch.int64)
    sd["encoder.i32"] = torch.tensor([-(2 ** 31), 5, 2 ** 31 - 1], dtype=torch.int32)
    sd["encoder.i16"] = torch.tensor([-300, 300], dtype=torch.int16)
    sd["encoder.i8"] = torch.tensor([-128, 127], dtype=torch.int8)
    sd["encoder.u8"] = torch.tensor([0, 200, 255], dtype=torch.uint8)
    sd["encoder.mask"] = torch.tensor([True, False, True, True])
    # Non-contiguous: the transpose of a 2x3 tensor has strides (1, 3).
    sd["encoder.transposed"] = torch.arange(6, dtype=torch.float32).reshape(2, 3).t()
    # Three tensors over one storage.
    base = torch.randn(4, 5, generator=g)
    sd["shared.full"] = base
    sd["shared.row"] = base[2]      # offset 10, stride (1,)
    sd["shared.col"] = base[:, 1]   # offset 1, stride (5,)
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 3)
    # Like Module.state_dict(): the OrderedDict carries _metadata (a BUILD).
    sd._metadata = collections.OrderedDict([("", {"version": 1})])
    return sd


def zip_archive(path, records, prefix="archive"):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in records.items():
            z.writestr(f"{prefix}/{name}", data)


def read_records(path):
    with zipfile.ZipFile(path) as z:
        return {n.split("/", 1)[1]: z.read(n) for n in z.namelist()}


class _FakeStorage:
    pass


class _FakeTensor:
    """Pickles as _rebuild_tensor_v2 over a 4-element float storage."""

    def __init__(self, offset, size, stride):
        self.args = (_FakeStorage(), offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class _StoragePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _FakeStorage):
            return ("storage", torch.FloatStorage, "0", "cpu", 4)
        return None


def crafted_tensor_archive(path, obj):
    buf = io.BytesIO()
    _StoragePickler(buf, protocol=2).dump(obj)
    four_floats = torch.tensor([1.0, 2.0, 3.0, 4.0]).numpy().tobytes()
    zip_archive(path, {"data.pkl": buf.getvalue(), "data/0": four_floats, "version": b"3\n"}, prefix="crafted")


def make_all(out):
    os.makedirs(out, exist_ok=True)
    p = lambda name: os.path.join(out, name)  # noqa: E731

    sd = fs2_state_dict()
    ckpt = {"model": sd, "model_key": "model", "fs2": True, "step": 1234, "lr": 0.25}
    torch.save(ckpt, p("fs2.pt"))
    torch.save(ckpt, p("fs2_proto4.pt"), pickle_protocol=4)

    # A bare DDP state dict.
    g = torch.Generator().manual_seed(7)
    ddp = collections.OrderedDict()
    ddp["module.proj.weight"] = torch.randn(2, 2, generator=g)
    ddp["module.proj.bias"] = torch.randn(2, generator=g)
    ddp["norm.weight"] = torch.ones(2)
    torch.save(ddp, p("ddp.pt"))

    # A state dict under a custom model_key, with assorted metadata.
    custom_sd = collections.OrderedDict()
    custom_sd["layer.weight"] = torch.arange(4, dtype=torch.float32).reshape(2, 2)
    shared_list = [1, 2]
    custom = {
        "my_model": custom_sd,
        "model_key": "my_model",
        "epoch": 3,
        "i2": 300,
        "neg": -5,
        "neg_big": -(2 ** 40),
        "big": 2 ** 62,
        "i32max": 2 ** 31,
        "lr": 1e-3,
        "none": None,
        "flag": False,
        "names": ["a", "b"],
        "pair": (1, "x"),
        "triple": (1, 2, 3),
        "quad": (1, 2, 3, 4),
        "empty_tuple": (),
        "int_keys": {1: "one", 2: "two"},
        "blob": b"\x00\x01xy\xe9\xff",
        "empty_blob": b"",
        "unicode": "h\u00e9llo \u2713",
        "nested": {"deep": [1.5, {"k": "v"}]},
        "l1": shared_list,
        "l2": shared_list,
        "param": torch.nn.Parameter(torch.full((2,), 0.5)),
        "dtype": torch.bfloat16,
    }
    torch.save(custom, p("custom_key.pt"))
    torch.save(custom, p("custom_key_proto4.pt"), pickle_protocol=4)

    # Many small tensors, each with its own storage, in an OrderedDict with
    # _metadata, as a large model's state dict is: the reader's object budget
    # must not refuse what real checkpoints hold.
    many = collections.OrderedDict()
    for i in range(20000):
        many["layers.%d.weight" % i] = torch.full((2,), float(i))
    many._metadata = collections.OrderedDict((("layers.%d" % i, {"version": 1}) for i in range(20000)))
    torch.save({"model": many, "step": 7}, p("many_tensors.pt"))

    write_description(p("expected.txt"), {**sd, **{"ddp." + k: v for k, v in ddp.items()}})

    # Failure cases.
    torch.save({"w": torch.ones(2)}, p("legacy.pt"), _use_new_zipfile_serialization=False)
    with open(p("random.bin"), "wb") as f:
        f.write(b"\x13\x37" + bytes((i * 97 + 13) % 256 for i in range(998)))
    with open(p("fs2.pt"), "rb") as f:
        data = f.read()
    with open(p("truncated.pt"), "wb") as f:
        f.write(data[: len(data) // 2])
    torch.save({"when": datetime.date(2020, 1, 2)}, p("disallowed.pt"))

    records = read_records(p("fs2.pt"))
    pkl = records["data.pkl"]
    zip_archive(p("truncated_pickle.pt"), {**records, "data.pkl": pkl[: len(pkl) // 2]})
    zip_archive(p("bad_opcode.pt"), {"data.pkl": b"\x80\x02\xff.", "version": b"3\n"})
    zip_archive(p("short_storage.pt"), {**records, "data/0": records["data/0"][:4]})
    zip_archive(p("no_pickle.pt"), {"version": b"3\n", "other": b"x"})

    # A view that reaches past its 4-element storage, and one that fits.
    crafted_tensor_archive(p("oob_view.pt"), {"t": _FakeTensor(2, (2, 2), (2, 1))})
    crafted_tensor_archive(p("ok_view.pt"), {"t": _FakeTensor(1, (3,), (1,))})


def describe_checkpoint(ckpt_path, out):
    ckpt = torch.load(ckpt_path)
    assert isinstance(ckpt, dict), type(ckpt)
    assert ckpt["model_key"] == "model", ckpt["model_key"]
    assert ckpt["fs2"] is True, ckpt["fs2"]
    model = ckpt["model"]
    assert all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items())
    write_description(out, model, extra_lines=["keys\t" + " ".join(sorted(ckpt.keys()))])


def main(argv):
    if len(argv) == 2:
        make_all(argv[1])
    elif len(argv) == 4 and argv[1] == "--describe":
        describe_checkpoint(argv[2], argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
