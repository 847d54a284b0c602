"""Gymnasium spaces as mnemo specs.

An observation space becomes named fields (core/array.h's Spec):
  Box            -> its dtype and shape (float64 becomes float32, the dtype of mnemo's policies;
                    uint8 images stay uint8; bool becomes uint8; other integers int64)
  Discrete(n)    -> one-hot float32[n]
  MultiDiscrete  -> int64[shape], values from 0 (its start subtracted)
  MultiBinary    -> uint8[shape]
  Dict / Tuple   -> one field per leaf, named by its path ("obs" for a lone leaf; Dict keys and
                    Tuple indices joined with ".")
An action space becomes one of mnemo's three kinds:
  Discrete(n)                 -> discrete(n)
  Box                         -> box(prod(shape)) with its bounds
  MultiDiscrete, MultiBinary  -> multi_discrete(nvec)
  Dict / Tuple of discrete leaves (Discrete, MultiDiscrete, MultiBinary) -> multi_discrete of
  their components in order; of Box leaves -> one box of them concatenated.
Anything else (Text, Graph, Sequence, mixed Dict/Tuple actions, ...) raises UnsupportedSpace with
the space printed.

Spaces are recognised by their class name and attributes, so gymnasium's, gym's and the small
classes below (for envs that do not depend on gymnasium) all work.
"""
import numpy as np


class UnsupportedSpace(ValueError):
    pass


# Field names travel as "obs:NAME" and "final:NAME" within the wire's 64-byte names.
MAX_FIELD_NAME = 58


# Minimal spaces with gymnasium's attributes, for envs that implement the Gymnasium API without
# depending on gymnasium (mnemo_envs.examples uses them).
class Box:
    def __init__(self, low, high, shape=None, dtype=np.float32):
        self.dtype = np.dtype(dtype)
        shape = tuple(shape) if shape is not None else np.shape(low)
        self.shape = shape
        self.low = np.broadcast_to(np.asarray(low, dtype=self.dtype), shape).copy()
        self.high = np.broadcast_to(np.asarray(high, dtype=self.dtype), shape).copy()

    def __repr__(self):
        return "Box(%s, %s, %s, %s)" % (self.low.min(), self.high.max(), self.shape, self.dtype)


class Discrete:
    def __init__(self, n, start=0):
        self.n, self.start, self.shape, self.dtype = int(n), int(start), (), np.dtype(np.int64)

    def __repr__(self):
        return "Discrete(%d)" % self.n if self.start == 0 else "Discrete(%d, start=%d)" % (self.n, self.start)


class MultiDiscrete:
    def __init__(self, nvec, start=None):
        self.nvec = np.asarray(nvec, dtype=np.int64)
        self.start = np.zeros_like(self.nvec) if start is None else np.asarray(start, dtype=np.int64)
        self.shape, self.dtype = self.nvec.shape, np.dtype(np.int64)

    def __repr__(self):
        return "MultiDiscrete(%s)" % self.nvec.tolist()


class MultiBinary:
    def __init__(self, n):
        self.n = n
        self.shape, self.dtype = (tuple(n) if isinstance(n, (list, tuple)) else (int(n),)), np.dtype(np.int8)

    def __repr__(self):
        return "MultiBinary(%s)" % (self.n,)


class Dict:
    def __init__(self, spaces):
        self.spaces = dict(spaces)

    def __repr__(self):
        return "Dict(" + ", ".join("%r: %r" % kv for kv in self.spaces.items()) + ")"


class Tuple:
    def __init__(self, spaces):
        self.spaces = tuple(spaces)

    def __repr__(self):
        return "Tuple(" + ", ".join(repr(s) for s in self.spaces) + ")"


def _kind(space):
    name = type(space).__name__
    if name in ("Box", "Discrete", "MultiDiscrete", "MultiBinary", "Dict", "Tuple"):
        return name
    raise UnsupportedSpace("mnemo cannot represent the space %r (%s): only Box, Discrete, MultiDiscrete, "
                           "MultiBinary, and Dict and Tuple of those" % (space, name))


def _leaves(space, path):
    kind = _kind(space)
    if kind == "Dict":
        for key, sub in space.spaces.items():
            yield from _leaves(sub, path + [str(key)])
    elif kind == "Tuple":
        for i, sub in enumerate(space.spaces):
            yield from _leaves(sub, path + [str(i)])
    else:
        yield path, space


def _obs_dtype(space):
    kind = _kind(space)
    if kind == "Discrete":
        return np.dtype("<f4")
    if kind == "MultiDiscrete":
        return np.dtype("<i8")
    if kind == "MultiBinary":
        return np.dtype(np.uint8)
    d = np.dtype(space.dtype)
    if d == np.uint8 or d == np.bool_:
        return np.dtype(np.uint8)
    if d.kind == "f":
        return np.dtype("<f4")
    if d.kind in "iu":
        return np.dtype("<i8")
    raise UnsupportedSpace("mnemo cannot represent a Box of dtype %s (%r)" % (d, space))


class ObsLayout:
    """How observations of one space become mnemo fields, and the fields' spec."""

    def __init__(self, space):
        self.space = space
        self.leaves = []  # (path, leaf space, field name, dtype, shape)
        for path, leaf in _leaves(space, []):
            name = ".".join(path) if path else "obs"
            kind = _kind(leaf)
            shape = (int(leaf.n),) if kind == "Discrete" else tuple(int(d) for d in leaf.shape)
            if len(name.encode()) > MAX_FIELD_NAME:
                raise UnsupportedSpace("observation field name %r is longer than %d bytes" % (name, MAX_FIELD_NAME))
            self.leaves.append((path, leaf, name, _obs_dtype(leaf), shape))
        if not self.leaves:
            raise UnsupportedSpace("the observation space %r has no fields" % (space,))

    def spec(self):
        return [{"name": n, "dtype": _DTYPE_NAMES[d], "shape": list(s)} for _, _, n, d, s in self.leaves]

    def buffers(self, rows):
        return [np.zeros((rows,) + s, dtype=d) for _, _, _, d, s in self.leaves]

    def writer(self, buffers):
        """A function writing one observation into a row of `buffers`: write(obs, row). A lone Box
        (the common case) gets a direct assignment instead of the general walk."""
        if len(self.leaves) == 1 and not self.leaves[0][0] and _kind(self.leaves[0][1]) == "Box":
            buf, shape, name = buffers[0], self.leaves[0][4], self.leaves[0][2]

            def write_box(obs, row):
                if np.shape(obs) != shape:
                    raise ValueError("observation field %r has shape %s, its space says %s"
                                     % (name, list(np.shape(obs)), list(shape)))
                buf[row] = obs
            return write_box
        return lambda obs, row: self.write(obs, buffers, row)

    def batch(self, observations):
        """The field buffers of a list of observations, one row each. A lone Box (the common case)
        is stacked at once; anything else, or a Box whose shapes disagree, goes row by row, which
        names the offending field."""
        if len(self.leaves) == 1 and not self.leaves[0][0] and _kind(self.leaves[0][1]) == "Box" and observations:
            _, _, _, dtype, shape = self.leaves[0]
            try:
                stacked = np.stack(observations)
            except ValueError:
                stacked = None
            if stacked is not None and stacked.shape[1:] == shape:
                return [stacked.astype(dtype, copy=False)]
        buffers = self.buffers(len(observations))
        write = self.writer(buffers)
        for row, obs in enumerate(observations):
            write(obs, row)
        return buffers

    def write(self, obs, buffers, row):
        """Writes one observation into row `row` of each field's buffer."""
        for (path, leaf, name, dtype, shape), buf in zip(self.leaves, buffers):
            value = obs
            for key in path:
                value = value[int(key)] if isinstance(value, (tuple, list)) else value[key]
            if _kind(leaf) == "Discrete":
                buf[row] = 0
                index = int(value) - int(getattr(leaf, "start", 0))
                if not 0 <= index < leaf.n:
                    raise ValueError("observation %r of field %r is outside %r" % (value, name, leaf))
                buf[row, index] = 1
            elif _kind(leaf) == "MultiDiscrete":
                buf[row] = np.asarray(value, dtype=np.int64) - np.asarray(getattr(leaf, "start", 0), dtype=np.int64)
            else:
                v = np.asarray(value)
                if v.shape != shape:
                    raise ValueError("observation field %r has shape %s, its space %r says %s"
                                     % (name, list(v.shape), leaf, list(shape)))
                buf[row] = v


_DTYPE_NAMES = {np.dtype(np.uint8): "uint8", np.dtype("<i8"): "int64", np.dtype("<f4"): "float32"}


class ActionLayout:
    """How mnemo's flat action rows become actions of one space."""

    def __init__(self, space):
        self.space = space
        leaves = list(_leaves(space, []))
        kinds = {_kind(leaf) for _, leaf in leaves}
        if kinds <= {"Discrete", "MultiDiscrete", "MultiBinary"}:
            self.kind = "discrete" if len(leaves) == 1 and kinds == {"Discrete"} else "multi_discrete"
        elif kinds == {"Box"}:
            self.kind = "box"
        else:
            raise UnsupportedSpace("mnemo cannot represent the action space %r: a Dict or Tuple of actions must be "
                                   "all discrete (Discrete, MultiDiscrete, MultiBinary) or all Box" % (space,))
        self.leaves = []  # (path, leaf, offset, count)
        offset = 0
        nvec, low, high = [], [], []
        for path, leaf in leaves:
            kind = _kind(leaf)
            if kind == "Discrete":
                count = 1
                nvec.append(int(leaf.n))
            elif kind == "MultiDiscrete":
                count = int(np.prod(leaf.shape))
                nvec.extend(int(v) for v in np.asarray(leaf.nvec).reshape(-1))
            elif kind == "MultiBinary":
                count = int(np.prod(leaf.shape))
                nvec.extend([2] * count)
            else:
                count = int(np.prod(leaf.shape))
                lo = np.asarray(leaf.low, dtype=np.float64).reshape(-1)
                hi = np.asarray(leaf.high, dtype=np.float64).reshape(-1)
                if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
                    raise UnsupportedSpace("mnemo cannot represent the action space %r: a Box action needs finite "
                                           "bounds (the policy's Gaussian is scaled to them)" % (space,))
                low.extend(lo.tolist())
                high.extend(hi.tolist())
            if count == 0:
                raise UnsupportedSpace("the action space %r has an empty component" % (space,))
            self.leaves.append((path, leaf, offset, count))
            offset += count
        self.width = offset
        self.nvec, self.low, self.high = nvec, low, high

    def spec(self):
        if self.kind == "discrete":
            return {"kind": "discrete", "n": self.nvec[0]}
        if self.kind == "multi_discrete":
            return {"kind": "multi_discrete", "nvec": self.nvec}
        return {"kind": "box", "low": self.low, "high": self.high}

    def dtype(self):
        return np.dtype("<f4") if self.kind == "box" else np.dtype("<i8")

    def shape(self):
        return () if self.kind == "discrete" else (self.width,)

    def actions(self, batch):
        """The env's actions for a batch [k, ...] of mnemo's actions, each checked against the space.
        A lone Discrete or Box is converted for the whole batch at once (Python ints for a
        Discrete, which gymnasium's contains() checks fastest)."""
        if len(self.leaves) == 1 and not self.leaves[0][0]:
            leaf = self.leaves[0][1]
            kind = _kind(leaf)
            if kind == "Discrete":
                bad = (batch < 0) | (batch >= leaf.n)
                if np.any(bad):
                    raise ValueError("action %d is outside %r" % (batch[np.argmax(bad)], leaf))
                return (batch + int(getattr(leaf, "start", 0))).tolist()
            if kind == "Box":
                rows = batch.reshape((len(batch),) + tuple(leaf.shape))
                return list(np.clip(rows, leaf.low, leaf.high).astype(leaf.dtype))
        return [self.action(row) for row in batch]

    def action(self, row):
        """The env's action for one row of mnemo's actions."""
        flat = np.asarray(row).reshape(-1)
        values = [self._leaf_action(leaf, flat[offset:offset + count]) for _, leaf, offset, count in self.leaves]
        if len(self.leaves) == 1 and not self.leaves[0][0]:
            return values[0]
        return self._assemble(self.space, iter(values))

    def _assemble(self, space, values):
        kind = _kind(space)
        if kind == "Dict":
            return {key: self._assemble(sub, values) for key, sub in space.spaces.items()}
        if kind == "Tuple":
            return tuple(self._assemble(sub, values) for sub in space.spaces)
        return next(values)

    @staticmethod
    def _leaf_action(leaf, flat):
        kind = _kind(leaf)
        if kind == "Discrete":
            if not 0 <= flat[0] < leaf.n:
                raise ValueError("action %d is outside %r" % (flat[0], leaf))
            return np.int64(flat[0] + int(getattr(leaf, "start", 0)))
        if kind == "MultiDiscrete":
            if np.any(flat < 0) or np.any(flat >= np.asarray(leaf.nvec).reshape(-1)):
                raise ValueError("action %s is outside %r" % (flat.tolist(), leaf))
            start = np.asarray(getattr(leaf, "start", 0), dtype=np.int64)
            return (flat.astype(np.int64).reshape(leaf.shape) + start).astype(leaf.dtype)
        if kind == "MultiBinary":
            if np.any((flat != 0) & (flat != 1)):
                raise ValueError("action %s is outside %r" % (flat.tolist(), leaf))
            return flat.reshape(leaf.shape).astype(leaf.dtype)
        # Box: mnemo's Gaussian policies sample outside the bounds; clip as gym's wrappers do.
        return np.clip(flat.reshape(leaf.shape), leaf.low, leaf.high).astype(leaf.dtype)
