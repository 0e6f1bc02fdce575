"""SQS (awsJson1.0 with awsQueryCompatible, `AmazonSQS`, same port): every
implemented operation on its happy path and its errors, each response
checked against botocore's `sqs` model as it arrives, and botocore's own
client reading the answers the way boto3 does (the query error header
naming the error class).

The SQS model is awsJson1.0, not 1.1, and query-compatible: errors carry the
model's shape name in `__type` (namespaced `com.amazonaws.sqs#`, which SDKs
strip) and the awsQuery code in `x-amzn-query-error: <code>;Sender`. So this
file has its own small client instead of wire.Client, and reuses wire.walk
for the strict walk of bodies against output shapes."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HeadersDict
from botocore.credentials import Credentials
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from botocore.validate import ParamValidator

from scenario import unique
from wire import walk

MODEL = botocore.session.get_session().get_service_model("sqs")
CONTENT_TYPE = "application/x-amz-json-1.0"
REGION = "us-east-1"
ACCOUNT = "000000000000"
#: Errors AWS answers that no SQS operation models (recorded on AWS: the
#: unmodeled `InvalidParameterValue` and `MissingParameter`).
UNMODELED = {
    "InvalidParameterValueException": "InvalidParameterValue",
    "MissingRequiredParameterException": "MissingParameter",
}
#: The awsQuery codes of the modeled errors this suite provokes.
QUERY_CODES = {
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "QueueNameExists": "QueueAlreadyExists",
    "PurgeQueueInProgress": "AWS.SimpleQueueService.PurgeQueueInProgress",
    "ReceiptHandleIsInvalid": "ReceiptHandleIsInvalid",
    "InvalidAttributeName": "InvalidAttributeName",
    "InvalidAttributeValue": "InvalidAttributeValue",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "InvalidMessageContents": "InvalidMessageContents",
    "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
}
#: Not served; each answers the modeled UnsupportedOperation.
UNSUPPORTED = [
    "AddPermission",
    "RemovePermission",
    "StartMessageMoveTask",
    "CancelMessageMoveTask",
    "ListMessageMoveTasks",
]
SERIALIZER = create_serializer("json")


class Sqs:
    """Raw awsJson1.0 as botocore sends it (its serializer, SigV4 for `sqs`,
    `x-amzn-query-mode`), every answer checked."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint.rstrip("/")
        self.creds = Credentials("AKIDCONFORMANCE", "conformance-secret")

    def send(self, op: str, params: dict) -> tuple[int, HeadersDict, bytes]:
        report = ParamValidator().validate(params, MODEL.operation_model(op).input_shape)
        assert not report.has_errors(), report.generate_report()
        body = SERIALIZER.serialize_to_request(params, MODEL.operation_model(op))["body"]
        req = AWSRequest(method="POST", url=self.endpoint + "/", data=body)
        req.headers["Content-Type"] = CONTENT_TYPE
        req.headers["X-Amz-Target"] = f"AmazonSQS.{op}"
        req.headers["x-amzn-query-mode"] = "true"
        SigV4Auth(self.creds, "sqs", REGION).add_auth(req)
        http = urllib.request.Request(self.endpoint + "/", data=body, method="POST")
        for k, v in req.headers.items():
            http.add_header(k, v)
        try:
            with urllib.request.urlopen(http, timeout=40) as resp:
                return resp.status, HeadersDict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, HeadersDict(e.headers.items()), e.read()

    def check(self, op: str, status: int, headers: HeadersDict, raw: bytes) -> tuple[dict, list[str]]:
        p: list[str] = []
        if headers.get("content-type") != CONTENT_TYPE:
            p.append(f"Content-Type is {headers.get('content-type')!r}")
        if not headers.get("x-amzn-requestid"):
            p.append("no x-amzn-RequestId")
        body = json.loads(raw)
        if not isinstance(body, dict):
            return {}, p + ["body is not an object"]
        op_model = MODEL.operation_model(op)
        if status == 200:
            if op_model.output_shape is not None:
                p.extend(walk(body, op_model.output_shape))
            elif body:
                p.append(f"no output modeled, body {body}")
            parsed = create_parser("json").parse(
                {"status_code": status, "headers": headers, "body": raw}, op_model.output_shape
            )
            if parsed.get("ResponseMetadata", {}).get("RequestId") != headers.get("x-amzn-requestid"):
                p.append("botocore did not read the request id")
            return body, p
        raw_type = body.get("__type", "")
        if not raw_type.startswith("com.amazonaws.sqs#"):
            p.append(f"__type {raw_type!r} is not namespaced")
        code = raw_type.rsplit("#", 1)[-1]
        modeled = {s.name for s in op_model.error_shapes}
        if code not in modeled and code not in UNMODELED:
            p.append(f"{code} is not a modeled error of {op} nor one AWS sends unmodeled")
        if not isinstance(body.get("message"), str) or not body["message"]:
            p.append("no lowercase message")
        query = headers.get("x-amzn-query-error", "")
        want = UNMODELED.get(code) or QUERY_CODES.get(code)
        if want is None:
            p.append(f"no known query code for {code}")
        elif query != f"{want};Sender":
            p.append(f"x-amzn-query-error is {query!r}, not {want};Sender")
        if headers.get("x-amzn-errortype") not in (None, code):
            p.append(f"X-Amzn-ErrorType {headers.get('x-amzn-errortype')!r} disagrees with {code}")
        return body, p

    def call(self, op: str, params: dict | None = None) -> dict:
        status, headers, raw = self.send(op, params or {})
        body, problems = self.check(op, status, headers, raw)
        assert status == 200, f"{op} -> {status} {raw[:400]!r}"
        assert not problems, f"{op}: {problems}"
        return body

    def error(self, op: str, params: dict, code: str, message: str | None = None, status: int = 400) -> dict:
        got, headers, raw = self.send(op, params)
        body, problems = self.check(op, got, headers, raw)
        assert got == status, f"{op} -> {got} {raw[:400]!r}"
        assert not problems, f"{op}: {problems}"
        assert body["__type"] == f"com.amazonaws.sqs#{code}", body
        if message is not None:
            assert body["message"] == message, body
        return body


@pytest.fixture(scope="module")
def sqs(emulator) -> Sqs:
    return Sqs(emulator.endpoint)


@pytest.fixture(scope="module")
def boto(emulator):
    """botocore's own client: it applies the query-compatible error header."""
    return botocore.session.get_session().create_client(
        "sqs",
        region_name=REGION,
        endpoint_url=emulator.endpoint,
        aws_access_key_id="AKIDCONFORMANCE",
        aws_secret_access_key="conformance-secret",
    )


def test_queues(sqs):
    name = unique("conf-q")
    url = sqs.call("CreateQueue", {"QueueName": name, "Attributes": {"DelaySeconds": "1"}, "tags": {"a": "b"}})[
        "QueueUrl"
    ]
    assert url.endswith(f"/{ACCOUNT}/{name}")
    assert sqs.call("CreateQueue", {"QueueName": name})["QueueUrl"] == url
    sqs.error(
        "CreateQueue",
        {"QueueName": name, "Attributes": {"DelaySeconds": "2"}},
        "QueueNameExists",
        "A queue already exists with the same name and a different value for attribute DelaySeconds",
    )
    sqs.error("CreateQueue", {"QueueName": "bad name"}, "InvalidParameterValueException")
    sqs.error(
        "CreateQueue",
        {"QueueName": unique("c"), "Attributes": {"ContentBasedDeduplication": "true"}},
        "InvalidAttributeName",
        "Unknown Attribute ContentBasedDeduplication.",
    )
    assert sqs.call("GetQueueUrl", {"QueueName": name})["QueueUrl"] == url
    sqs.error("GetQueueUrl", {"QueueName": "missing"}, "QueueDoesNotExist", "The specified queue does not exist.")
    listed = sqs.call("ListQueues", {"QueueNamePrefix": name})
    assert listed["QueueUrls"] == [url]
    page = sqs.call("ListQueues", {"MaxResults": 1})
    assert len(page["QueueUrls"]) == 1
    attrs = sqs.call("GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["All"]})["Attributes"]
    assert attrs["DelaySeconds"] == "1" and attrs["VisibilityTimeout"] == "30"
    sqs.call("SetQueueAttributes", {"QueueUrl": url, "Attributes": {"VisibilityTimeout": "5"}})
    sqs.error(
        "SetQueueAttributes",
        {"QueueUrl": url, "Attributes": {"VisibilityTimeout": "43201"}},
        "InvalidAttributeValue",
        "Invalid value for the parameter VisibilityTimeout.",
    )
    sqs.call("TagQueue", {"QueueUrl": url, "Tags": {"c": "d"}})
    sqs.call("UntagQueue", {"QueueUrl": url, "TagKeys": ["a"]})
    assert sqs.call("ListQueueTags", {"QueueUrl": url})["Tags"] == {"c": "d"}
    sqs.call("PurgeQueue", {"QueueUrl": url})
    sqs.error("PurgeQueue", {"QueueUrl": url}, "PurgeQueueInProgress", status=403)
    sqs.call("DeleteQueue", {"QueueUrl": url})
    sqs.error("DeleteQueue", {"QueueUrl": url}, "QueueDoesNotExist")


def test_messages_and_batches(sqs):
    url = sqs.call("CreateQueue", {"QueueName": unique("conf-m")})["QueueUrl"]
    sent = sqs.call(
        "SendMessage",
        {
            "QueueUrl": url,
            "MessageBody": "test",
            "MessageAttributes": {"Foo": {"DataType": "String", "StringValue": "Bar"}},
        },
    )
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"test").hexdigest()
    assert sent["MD5OfMessageAttributes"] == "ae7155c6026991b6d54b11589678bf9c"
    sqs.error("SendMessage", {"QueueUrl": url, "MessageBody": "\x01"}, "InvalidMessageContents")
    got = sqs.call(
        "ReceiveMessage",
        {
            "QueueUrl": url,
            "MaxNumberOfMessages": 10,
            "MessageSystemAttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        },
    )
    (m,) = got["Messages"]
    assert m["Attributes"]["ApproximateReceiveCount"] == "1"
    assert m["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    # Nothing visible: no Messages member.
    assert "Messages" not in sqs.call("ReceiveMessage", {"QueueUrl": url})
    sqs.call("ChangeMessageVisibility", {"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 60})
    sqs.call("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"]})
    sqs.error("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": "garbage"}, "ReceiptHandleIsInvalid", status=404)
    sqs.error(
        "ReceiveMessage",
        {"QueueUrl": url, "MaxNumberOfMessages": 11},
        "InvalidParameterValueException",
        "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.",
    )

    batch = sqs.call(
        "SendMessageBatch",
        {"QueueUrl": url, "Entries": [{"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": "\x01"}]},
    )
    assert [e["Id"] for e in batch["Successful"]] == ["a"]
    assert batch["Failed"][0]["Code"] == "InvalidMessageContents" and batch["Failed"][0]["SenderFault"]
    sqs.error("SendMessageBatch", {"QueueUrl": url, "Entries": []}, "EmptyBatchRequest")
    sqs.error(
        "SendMessageBatch",
        {"QueueUrl": url, "Entries": [{"Id": str(i), "MessageBody": "x"} for i in range(11)]},
        "TooManyEntriesInBatchRequest",
        "Maximum number of entries per request are 10. You have sent 11.",
    )
    sqs.error(
        "SendMessageBatch",
        {"QueueUrl": url, "Entries": [{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}]},
        "BatchEntryIdsNotDistinct",
    )
    sqs.error("SendMessageBatch", {"QueueUrl": url, "Entries": [{"Id": "a b", "MessageBody": "x"}]}, "InvalidBatchEntryId")
    (m,) = sqs.call("ReceiveMessage", {"QueueUrl": url})["Messages"]
    vis = sqs.call(
        "ChangeMessageVisibilityBatch",
        {
            "QueueUrl": url,
            "Entries": [
                {"Id": "a", "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 30},
                {"Id": "b", "ReceiptHandle": "garbage", "VisibilityTimeout": 30},
            ],
        },
    )
    assert [e["Id"] for e in vis["Successful"]] == ["a"] and vis["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    deleted = sqs.call("DeleteMessageBatch", {"QueueUrl": url, "Entries": [{"Id": "a", "ReceiptHandle": m["ReceiptHandle"]}]})
    assert deleted["Successful"] == [{"Id": "a"}]


def test_fifo_and_dead_letters(sqs):
    fifo = sqs.call(
        "CreateQueue",
        {"QueueName": unique("conf-f") + ".fifo", "Attributes": {"FifoQueue": "true", "ContentBasedDeduplication": "true"}},
    )["QueueUrl"]
    first = sqs.call("SendMessage", {"QueueUrl": fifo, "MessageBody": "a", "MessageGroupId": "g"})
    again = sqs.call("SendMessage", {"QueueUrl": fifo, "MessageBody": "a", "MessageGroupId": "g"})
    assert again["MessageId"] == first["MessageId"] and again["SequenceNumber"] == first["SequenceNumber"]
    sqs.error(
        "SendMessage",
        {"QueueUrl": fifo, "MessageBody": "a"},
        "MissingRequiredParameterException",
        "The request must contain the parameter MessageGroupId.",
    )
    got = sqs.call("ReceiveMessage", {"QueueUrl": fifo, "MessageSystemAttributeNames": ["All"]})
    assert got["Messages"][0]["Attributes"]["SequenceNumber"] == first["SequenceNumber"]

    dlq = sqs.call("CreateQueue", {"QueueName": unique("conf-dlq")})["QueueUrl"]
    arn = sqs.call("GetQueueAttributes", {"QueueUrl": dlq, "AttributeNames": ["QueueArn"]})["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 1})
    src = sqs.call(
        "CreateQueue",
        {"QueueName": unique("conf-src"), "Attributes": {"RedrivePolicy": policy, "VisibilityTimeout": "0"}},
    )["QueueUrl"]
    sqs.call("SendMessage", {"QueueUrl": src, "MessageBody": "poison"})
    assert len(sqs.call("ReceiveMessage", {"QueueUrl": src})["Messages"]) == 1
    assert "Messages" not in sqs.call("ReceiveMessage", {"QueueUrl": src})
    dead = sqs.call("ReceiveMessage", {"QueueUrl": dlq, "MessageSystemAttributeNames": ["All"]})["Messages"]
    assert dead[0]["Body"] == "poison" and dead[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert sqs.call("ListDeadLetterSourceQueues", {"QueueUrl": dlq})["queueUrls"] == [src]


@pytest.mark.parametrize("op", UNSUPPORTED)
def test_unsupported_operations_answer_a_modeled_error(sqs, op):
    params = {
        "AddPermission": {"QueueUrl": "u", "Label": "l", "AWSAccountIds": ["1"], "Actions": ["SendMessage"]},
        "RemovePermission": {"QueueUrl": "u", "Label": "l"},
        "StartMessageMoveTask": {"SourceArn": "arn:aws:sqs:us-east-1:000000000000:q"},
        "CancelMessageMoveTask": {"TaskHandle": "t"},
        "ListMessageMoveTasks": {"SourceArn": "arn:aws:sqs:us-east-1:000000000000:q"},
    }[op]
    body = sqs.error(op, params, "UnsupportedOperation")
    assert op in body["message"]


def test_botocore_reads_errors_by_the_query_code(boto):
    """botocore names the exception class by the shape and the code by the
    query code, as it does against AWS."""
    with pytest.raises(boto.exceptions.QueueDoesNotExist) as e:
        boto.get_queue_url(QueueName="missing")
    assert e.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    url = boto.create_queue(QueueName=unique("conf-b"))["QueueUrl"]
    boto.send_message(QueueUrl=url, MessageBody="hi")
    got = boto.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert got["Messages"][0]["Body"] == "hi"
    with pytest.raises(boto.exceptions.ClientError) as e:
        boto.receive_message(QueueUrl=url, WaitTimeSeconds=21)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
