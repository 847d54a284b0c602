"""The safetensors package against a file that `mnemo export` wrote.

    safetensors_reference.py FILE.safetensors EXPECTED.json

EXPECTED.json (written by safetensors_test.cc from the policy mnemo trained) maps each tensor name
to its dtype, shape and the CRC32C of its bytes. The file must load with safetensors' own loader
(numpy, no torch needed) with exactly those names, dtypes, shapes and bytes, and carry mnemo's
metadata (format "pt", the model, observation spec and action space as JSON). Exit code 0 when
it does.
"""
import json
import sys

from crc32c import crc32c
from safetensors import safe_open
from safetensors.numpy import load_file

DTYPES = {"float32": "float32", "float64": "float64", "int64": "int64", "uint8": "uint8", "int32": "int32"}


def main(path, expected_path):
    expected = json.load(open(expected_path))
    tensors = load_file(path)
    failures = []
    if set(tensors) != set(expected):
        failures.append("names differ: only in the file %s, only in mnemo %s"
                        % (sorted(set(tensors) - set(expected)), sorted(set(expected) - set(tensors))))
    for name in sorted(set(tensors) & set(expected)):
        t, want = tensors[name], expected[name]
        got = {"dtype": str(t.dtype), "shape": list(t.shape), "crc32c": crc32c(t.tobytes())}
        if got != {"dtype": DTYPES[want["dtype"]], "shape": want["shape"], "crc32c": want["crc32c"]}:
            failures.append("%s: file %s, mnemo %s" % (name, got, want))
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata() or {}
    if meta.get("format") != "pt":
        failures.append("metadata format is %r, not 'pt'" % meta.get("format"))
    for key in ("model", "observation_spec", "action_space"):
        try:
            json.loads(meta[key])
        except (KeyError, ValueError) as e:
            failures.append("metadata %r is missing or no JSON (%s)" % (key, e))
    print("safetensors_reference: %s: %d tensors, %d values: %s" % (
        path, len(tensors), sum(t.size for t in tensors.values()),
        "equal" if not failures else "%d differences" % len(failures)))
    for f in failures[:10]:
        print("  " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
