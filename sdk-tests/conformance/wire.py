"""The model-driven wire validator: sends awsJson1.1 requests exactly as an
SDK does and checks every response strictly against the botocore model of
the service it called (ECS, or CloudWatch Logs with `Client(..., "logs")`).

What it checks (reference ecs-api.md section 2.3):
- every response: `Content-Type: application/x-amz-json-1.1`, an
  `x-amzn-RequestId` header, a JSON object body;
- success: a strict walk of the body against the operation's output shape
  (members not in the model, wrong JSON types, enum violations, timestamps
  that are not epoch-second numbers, nulls, missing required members), then
  botocore's own JSON parser on it;
- error: `__type` present, lowercase `message`, the code one of the
  operation's modeled errors (the generic protocol codes only where a test
  says so), `X-Amzn-ErrorType` present and agreeing, 400 for client
  faults and 500 for
  ServerException, and botocore's parser reading the same code and message.

It deliberately does not import awscli: that package swaps `botocore` for its
vendored, older copy, and the model would no longer be the pinned one.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HeadersDict
from botocore.credentials import Credentials
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from botocore.validate import ParamValidator

TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113"
#: The awsJson1.1 services the suite checks: X-Amz-Target prefix and SigV4
#: signing name of each botocore service name.
SERVICES = {
    "ecs": ("AmazonEC2ContainerServiceV20141113", "ecs"),
    "logs": ("Logs_20140328", "logs"),
    "servicediscovery": ("Route53AutoNaming_v20170314", "servicediscovery"),
}
CONTENT_TYPE = "application/x-amz-json-1.1"
REGION = "us-east-1"
#: The generic awsJson protocol errors a server may send for input it cannot
#: route or decode. They are not in any operation's error list, so a test
#: must allow them explicitly.
PROTOCOL_ERRORS = frozenset({"SerializationException", "UnknownOperationException"})
#: AWS's common errors, which any operation of any service may answer and
#: no model lists (the "Common Errors" page of each API reference); the
#: SDKs retry them. The emulator answers ThrottlingException over Fargate's
#: launch-rate quotas.
COMMON_ERRORS = frozenset({"ThrottlingException"})

_SESSION = botocore.session.get_session()
#: The botocore model of each service, by botocore service name.
MODELS = {name: _SESSION.get_service_model(name) for name in SERVICES}
MODEL = MODELS["ecs"]
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
# Epoch seconds between 2001 and 2286: a value in milliseconds is out.
EPOCH_SECONDS = (1e9, 1e10)
SERIALIZER = create_serializer("json")
#: Every exception shape of each model, by name.
ERROR_SHAPES = {n: {s.name: s for s in m.error_shapes} for n, m in MODELS.items()}


# ------------------------------------------------------------------ the walk


def walk(value: Any, shape, path: str = "$") -> list[str]:
    """Every way `value` (decoded JSON) departs from `shape`, one line each."""
    problems: list[str] = []
    _walk(value, shape, path, problems)
    return problems


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _walk(v: Any, shape, path: str, out: list[str]) -> None:
    if v is None:
        out.append(f"{path}: null value (AWS leaves unset members out)")
        return
    t = shape.type_name
    if t == "structure":
        if not isinstance(v, dict):
            out.append(f"{path}: expected object ({shape.name}), got {_type_name(v)}")
            return
        members = shape.members
        for key, item in v.items():
            if key not in members:
                out.append(f"{path}.{key}: member not in model ({shape.name})")
                continue
            _walk(item, members[key], f"{path}.{key}", out)
        for req in shape.required_members:
            if req not in v:
                out.append(f"{path}.{req}: required member missing ({shape.name})")
    elif t == "list":
        if not isinstance(v, list):
            out.append(f"{path}: expected array ({shape.name}), got {_type_name(v)}")
            return
        for i, item in enumerate(v):
            _walk(item, shape.member, f"{path}[{i}]", out)
    elif t == "map":
        if not isinstance(v, dict):
            out.append(f"{path}: expected object map ({shape.name}), got {_type_name(v)}")
            return
        for key, item in v.items():
            _walk(key, shape.key, f"{path}<key {key!r}>", out)
            _walk(item, shape.value, f"{path}[{key!r}]", out)
    elif t == "string":
        if not isinstance(v, str):
            out.append(f"{path}: expected string, got {_type_name(v)} {v!r}")
            return
        if shape.enum and v not in shape.enum:
            out.append(f"{path}: {v!r} not in enum {shape.name}")
    elif t in ("integer", "long"):
        if isinstance(v, bool) or not isinstance(v, int):
            out.append(f"{path}: expected {t}, got {_type_name(v)} {v!r}")
            return
        lo, hi = INT32 if t == "integer" else INT64
        if not lo <= v <= hi:
            out.append(f"{path}: {v} does not fit a {t}")
    elif t in ("float", "double"):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            out.append(f"{path}: expected number, got {_type_name(v)} {v!r}")
    elif t == "boolean":
        if not isinstance(v, bool):
            out.append(f"{path}: expected boolean, got {_type_name(v)} {v!r}")
    elif t == "timestamp":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            out.append(
                f"{path}: timestamp must be epoch seconds number, got {_type_name(v)} {v!r}"
            )
            return
        if not EPOCH_SECONDS[0] <= v <= EPOCH_SECONDS[1]:
            out.append(f"{path}: timestamp {v} is not plausible epoch seconds")
    elif t == "blob":
        if not isinstance(v, str):
            out.append(f"{path}: expected base64 string, got {_type_name(v)}")
            return
        try:
            base64.b64decode(v, validate=True)
        except ValueError:
            out.append(f"{path}: not valid base64")
    else:  # document and anything newer: any JSON goes
        pass


# ------------------------------------------------------------------ one response


@dataclass
class Response:
    """One request and what came back, with every problem the checks found."""

    op: str
    status: int
    headers: HeadersDict
    raw: bytes
    body: Any = None
    parsed: dict | None = None
    problems: list[str] = field(default_factory=list)
    #: The protocol error codes the request's test allowed.
    allowed_generic: frozenset[str] = frozenset()
    #: The botocore service name whose model the response was checked against.
    service: str = "ecs"

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def code(self) -> str | None:
        return self.body.get("__type") if isinstance(self.body, dict) else None

    @property
    def message(self) -> str | None:
        return self.body.get("message") if isinstance(self.body, dict) else None

    def describe(self) -> str:
        text = self.raw[:600].decode("utf-8", "replace")
        return f"{self.op} -> HTTP {self.status} {text}"


def sanitize_code(raw: str) -> str:
    """The awsJson error-code rule: text before ':', then after '#'."""
    return raw.split(":", 1)[0].rsplit("#", 1)[-1]


def check_response(
    op: str | None,
    status: int,
    headers: HeadersDict,
    raw: bytes,
    *,
    allowed_generic: frozenset[str] = frozenset(),
    service: str = "ecs",
) -> Response:
    """Runs every check on one response. `op` is the operation of `service`
    the request named (None when the request named none the model has)."""
    r = Response(op or "?", status, headers, raw, allowed_generic=allowed_generic, service=service)
    model = MODELS[service]
    p = r.problems
    ctype = headers.get("content-type")
    if ctype != CONTENT_TYPE:
        p.append(f"Content-Type is {ctype!r}, not {CONTENT_TYPE!r}")
    if not headers.get("x-amzn-requestid"):
        p.append("no x-amzn-RequestId header")
    try:
        r.body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        p.append(f"body is not JSON ({e}): {raw[:200]!r}")
        return r
    if not isinstance(r.body, dict):
        p.append(f"body is a JSON {_type_name(r.body)}, not an object")
        return r
    op_model = model.operation_model(op) if op in model.operation_names else None
    if status == 200:
        if op_model is None:
            p.append(f"a 200 answer to a request that names no {service} operation")
            return r
        if "__type" in r.body:
            p.append("a 200 answer carries __type")
        if op_model.output_shape is not None:
            p.extend(walk(r.body, op_model.output_shape))
        elif r.body:
            p.append("operation has no output, but the body is not {}")
        _parse(r, op_model)
        return r
    _check_error(r, op_model, allowed_generic, ERROR_SHAPES[service])
    return r


def _check_error(r: Response, op_model, allowed_generic: frozenset[str], error_shapes: dict) -> None:
    p = r.problems
    body = r.body
    # A model may give an error its own status (Cloud Map: 404, 409).
    shape = error_shapes.get(sanitize_code(str(body.get("__type", ""))))
    modeled_status = shape.metadata.get("error", {}).get("httpStatusCode") if shape is not None else None
    if r.status not in (400, 500) and r.status != modeled_status:
        p.append(f"error status {r.status}: awsJson services answer 400 (client) or 500 (server)")
    raw_code = body.get("__type")
    if not isinstance(raw_code, str) or not raw_code:
        p.append("error body has no __type")
        return
    code = sanitize_code(raw_code)
    if code != raw_code:
        p.append(f"__type {raw_code!r} is not the bare shape name")
    if "message" not in body:
        p.append("error body has no lowercase message")
    elif not isinstance(body["message"], str) or not body["message"]:
        p.append(f"error message is not a non-empty string: {body['message']!r}")
    if "code" in body:
        p.append("error body carries 'code' (Go and Rust SDKs would read it before __type)")
    # Optional on the wire, but the emulator always sends it and smithy-rs
    # and Go read it before the body, so it must be there and agree.
    header = r.headers.get("x-amzn-errortype")
    if header is None:
        p.append("no X-Amzn-ErrorType header")
    elif sanitize_code(header) != code:
        p.append(f"X-Amzn-ErrorType {header!r} disagrees with __type {code!r}")
    modeled = {s.name for s in op_model.error_shapes} if op_model else set()
    if code not in modeled and code not in allowed_generic and code not in COMMON_ERRORS:
        where = op_model.name if op_model else "this request"
        p.append(f"{code} is not a modeled error of {where} (modeled: {sorted(modeled)})")
    shape = error_shapes.get(code)
    rest = {k: v for k, v in body.items() if k != "__type"}
    if shape is not None:
        # botocore keeps `fault` only in the raw shape (ServerException).
        want = modeled_status or (500 if shape._shape_model.get("fault") else 400)
        if r.status != want:
            p.append(f"{code} came with HTTP {r.status}, the model says {want}")
        # `message` is every awsJson error's member, modeled or not (most
        # CloudWatch Logs exceptions leave it out of the model; it was
        # checked above).
        if "message" not in shape.members:
            rest.pop("message", None)
        p.extend(walk(rest, shape, f"${code}"))
    else:
        if r.status != 400:
            p.append(f"{code} came with HTTP {r.status}, not 400")
        extra = sorted(set(rest) - {"message"})
        if extra:
            p.append(f"{code} carries members other than __type and message: {extra}")
    if op_model is not None:
        _parse(r, op_model)
        err = (r.parsed or {}).get("Error", {})
        if err.get("Code") != code:
            p.append(f"botocore read the error code as {err.get('Code')!r}, not {code!r}")
        if err.get("Message") != body.get("message"):
            p.append(f"botocore read the message as {err.get('Message')!r}")


def _parse(r: Response, op_model) -> None:
    """botocore's real parser, as boto3 and the CLI run it."""
    try:
        r.parsed = create_parser("json").parse(
            {"status_code": r.status, "headers": r.headers, "body": r.raw},
            op_model.output_shape,
        )
    except Exception as e:  # noqa: BLE001 - any parser failure is the finding
        r.problems.append(f"botocore's parser failed: {type(e).__name__}: {e}")
        return
    rid = r.parsed.get("ResponseMetadata", {}).get("RequestId")
    if rid != r.headers.get("x-amzn-requestid"):
        r.problems.append(f"botocore saw RequestId {rid!r}")


# ------------------------------------------------------------------ the client


class ConformanceError(AssertionError):
    pass


def check_input(op: str, params: dict, service: str = "ecs") -> None:
    """Fails when `params` is not something an SDK would let a user send."""
    report = ParamValidator().validate(params, MODELS[service].operation_model(op).input_shape)
    if report.has_errors():
        raise ConformanceError(f"scenario input for {op} is not legal SDK input:\n{report.generate_report()}")


class Client:
    """Raw awsJson1.1 over urllib, signed with SigV4 the way botocore signs.

    Every response goes through `check_response` and is kept in `log`, so a
    test at the end of the session can look at all of them."""

    def __init__(self, endpoint: str, service: str = "ecs", region: str = REGION):
        self.endpoint = endpoint.rstrip("/")
        self.service = service
        self.model = MODELS[service]
        self.target_prefix, self.signing_name = SERVICES[service]
        self.region = region
        self.creds = Credentials("AKIDCONFORMANCE", "conformance-secret")
        self.log: list[Response] = []
        self._lock = threading.Lock()

    # -- sending

    def headers_for(self, target: str | None, body: bytes) -> dict[str, str]:
        req = AWSRequest(method="POST", url=self.endpoint + "/", data=body)
        req.headers["Content-Type"] = CONTENT_TYPE
        if target is not None:
            req.headers["X-Amz-Target"] = target
        req.headers["User-Agent"] = "fargate-local-conformance botocore-model"
        SigV4Auth(self.creds, self.signing_name, self.region).add_auth(req)
        return dict(req.headers.items())

    def send(
        self,
        body: bytes,
        headers: dict[str, str],
        method: str = "POST",
        path: str = "/",
        timeout: float = 30,
    ) -> tuple[int, HeadersDict, bytes]:
        req = urllib.request.Request(
            self.endpoint + path, data=body if method != "GET" else None, method=method
        )
        for k, v in headers.items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, HeadersDict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, HeadersDict(e.headers.items()), e.read()

    def record(self, r: Response) -> Response:
        with self._lock:
            self.log.append(r)
        return r

    def request(self, op: str, params: dict | None = None, *, validate_input: bool = True) -> Response:
        params = {} if params is None else params
        if validate_input:
            check_input(op, params, self.service)
            # botocore's own serializer makes the body, byte for byte.
            body = SERIALIZER.serialize_to_request(params, self.model.operation_model(op))["body"]
        else:
            body = json.dumps(params).encode()
        status, headers, raw = self.send(body, self.headers_for(f"{self.target_prefix}.{op}", body))
        return self.record(check_response(op, status, headers, raw, service=self.service))

    # -- asserting

    def call(self, op: str, params: dict | None = None) -> dict:
        """A call that must succeed and conform; returns the decoded body."""
        r = self.request(op, params)
        if not r.ok:
            raise ConformanceError(f"{op} failed: {r.describe()}")
        if r.problems:
            raise ConformanceError(f"{op} response does not conform:\n  " + "\n  ".join(r.problems))
        return r.body

    def error(
        self,
        op: str,
        params: dict | None,
        code: str,
        message: str | None = None,
        *,
        validate_input: bool = True,
    ) -> Response:
        """A call that must fail with `code` (and `message`, when given)."""
        r = self.request(op, params, validate_input=validate_input)
        if r.ok:
            raise ConformanceError(f"{op} succeeded, expected {code}: {r.describe()}")
        if r.problems:
            raise ConformanceError(f"{op} error does not conform:\n  " + "\n  ".join(r.problems))
        if r.code != code:
            raise ConformanceError(f"{op}: expected {code}, got {r.code}: {r.message!r}")
        if message is not None and r.message != message:
            raise ConformanceError(f"{op}: {code} message is {r.message!r}, expected {message!r}")
        return r

    def raw(
        self,
        body: bytes,
        *,
        op: str | None = None,
        target: str | None = "default",
        method: str = "POST",
        path: str = "/",
        extra_headers: dict[str, str] | None = None,
        allowed_generic: frozenset[str] = PROTOCOL_ERRORS,
    ) -> Response:
        """Sends anything; for the bad-input tests. The answer is checked
        like any other, with the generic protocol codes allowed."""
        if target == "default":
            target = f"{self.target_prefix}.{op}"
        headers = self.headers_for(target, body)
        headers.update(extra_headers or {})
        status, rh, raw = self.send(body, headers, method=method, path=path)
        return self.record(
            check_response(op, status, rh, raw, allowed_generic=allowed_generic, service=self.service)
        )
