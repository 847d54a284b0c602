"""mnemo's env bridge: serve Gymnasium environments to mnemo over ZeroMQ.

    python3 -m mnemo_envs.server --env CartPole-v1 --bind tcp://127.0.0.1:5555

serves copies of an environment (a Gymnasium id, or a ``module:function`` factory) to a mnemo
pool, stepping them as one batch per request. mnemo starts such servers itself for an
``env: {name: gym, ...}`` config; see docs/envs.md, "Bring your own environment".

The package needs only numpy and pyzmq (Debian: python3-numpy, python3-zmq); gymnasium only when
the served env comes from it. ``crc32c`` (Debian: python3-crc32c) makes checksums fast.
"""
