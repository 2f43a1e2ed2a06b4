"""The generated protobuf module, with a clear message when it is missing.

fairpay_pb2.py is generated from proto/fairpay.proto at build time (`make
python`, which runs protoc) and is not kept in git: the .proto is the one source.
"""

try:
    from . import fairpay_pb2 as pb
except ImportError as exc:  # pragma: no cover - a build step was skipped
    raise ImportError(
        "fairpay_pb2 is missing: run `make python` at the repository root (it runs "
        "protoc on proto/fairpay.proto) or `protoc -Iproto --python_out="
        "client/python/fairpay proto/fairpay.proto`"
    ) from exc

__all__ = ["pb"]
