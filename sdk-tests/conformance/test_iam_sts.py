"""IAM and STS (awsQuery, `Version=2010-05-08` and `2011-06-15`, same port
as ECS) through botocore's own clients: every implemented operation on its
happy path and its modeled errors (code, HTTP status, `Sender` type), and
every XML element of each answer checked against botocore's model of the
operation's output (no element the model does not have, every required
member present)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from scenario import unique

TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})  # fmt: skip
ACCOUNT_TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
                   "Action": "sts:AssumeRole"}],
})  # fmt: skip
POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}],
})  # fmt: skip
EXEC = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"


def _strip(tag: str) -> str:
    return tag.split("}", 1)[-1]


def _walk(el: ET.Element, shape, path: str, out: list[str]) -> None:
    """The XML under `el` against `shape` (a structure, list or scalar)."""
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        seen = set()
        for child in el:
            name = _strip(child.tag)
            seen.add(name)
            if name not in members:
                out.append(f"{path}.{name}: not in the model's {shape.name}")
                continue
            _walk(child, members[name], f"{path}.{name}", out)
        for req in shape.required_members:
            if req not in seen:
                out.append(f"{path}: required {req} missing")
    elif kind == "list":
        for i, child in enumerate(el):
            if _strip(child.tag) != "member":
                out.append(f"{path}[{i}]: <{_strip(child.tag)}>, not <member>")
            _walk(child, shape.member, f"{path}[{i}]", out)
    elif kind == "map":
        pass
    elif len(el):
        out.append(f"{path}: a {kind} with child elements")


@pytest.fixture(scope="module")
def clients(emulator):
    session = botocore.session.get_session()
    problems: list[str] = []
    checked: list[str] = []

    def check(service: str):
        client = session.create_client(
            service,
            region_name="us-east-1",
            endpoint_url=emulator.endpoint,
            aws_access_key_id="AKIDCONFORMANCE",
            aws_secret_access_key="conformance-secret",
            config=Config(retries={"max_attempts": 1}),
        )
        model = client.meta.service_model

        def after_call(http_response, parsed, model: object, **_):
            op = model
            checked.append(op.name)
            raw = http_response.content
            root = ET.fromstring(raw)
            if http_response.status_code != 200:
                err = root.find("{*}Error")
                if _strip(root.tag) != "ErrorResponse" or err is None:
                    problems.append(f"{op.name}: error without ErrorResponse/Error: {raw[:200]!r}")
                    return
                kind = err.find("{*}Type")
                if kind is None or kind.text not in ("Sender", "Receiver"):
                    problems.append(f"{op.name}: error Type {kind!r}")
                return
            if _strip(root.tag) != f"{op.name}Response":
                problems.append(f"{op.name}: root <{_strip(root.tag)}>")
            meta = root.find("{*}ResponseMetadata/{*}RequestId")
            if meta is None or not meta.text:
                problems.append(f"{op.name}: no ResponseMetadata/RequestId")
            result = root.find(f"{{*}}{op.name}Result")
            if op.output_shape is None:
                return
            if result is None:
                problems.append(f"{op.name}: no {op.name}Result")
                return
            _walk(result, op.output_shape, op.name, problems)

        client.meta.events.register(f"after-call.{model.endpoint_prefix}.*", after_call)
        return client

    yield check("iam"), check("sts"), problems
    assert len(set(checked)) >= 25, f"the checks saw only {sorted(set(checked))}"
    assert not problems, "responses that do not conform:\n  " + "\n  ".join(problems)


def error(fn, code: str, status: int, message: str | None = None, **kwargs) -> None:
    with pytest.raises(ClientError) as e:
        fn(**kwargs)
    err = e.value.response["Error"]
    assert err["Code"] == code, e.value.response
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert err.get("Type") == "Sender"
    if message is not None:
        assert err["Message"] == message


def test_roles_policies_and_errors(clients):
    iam, sts, problems = clients
    name = unique("conf-role")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST, Description="d",
                           Tags=[{"Key": "k", "Value": "v"}])["Role"]  # fmt: skip
    assert role["Arn"] == f"arn:aws:iam::000000000000:role/{name}"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Action"] == "sts:AssumeRole"
    assert iam.get_role(RoleName=name)["Role"]["Tags"] == [{"Key": "k", "Value": "v"}]
    assert any(r["RoleName"] == name for r in iam.list_roles()["Roles"])
    error(iam.create_role, "EntityAlreadyExists", 409, f"Role with name {name} already exists.",
          RoleName=name, AssumeRolePolicyDocument=TRUST)  # fmt: skip
    error(iam.get_role, "NoSuchEntity", 404, "The role with name nope cannot be found.", RoleName="nope")
    error(iam.create_role, "MalformedPolicyDocument", 400, "This policy contains invalid Json",
          RoleName=unique("bad"), AssumeRolePolicyDocument="{")  # fmt: skip
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=ACCOUNT_TRUST)

    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=POLICY)
    assert iam.get_role_policy(RoleName=name, PolicyName="p")["PolicyDocument"] == json.loads(POLICY)
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["p"]
    error(iam.get_role_policy, "NoSuchEntity", 404, RoleName=name, PolicyName="nope")
    iam.attach_role_policy(RoleName=name, PolicyArn=EXEC)
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    assert attached == [{"PolicyName": "AmazonECSTaskExecutionRolePolicy", "PolicyArn": EXEC}]
    error(iam.delete_role, "DeleteConflict", 409, "Cannot delete entity, must detach all policies first.",
          RoleName=name)  # fmt: skip

    pname = unique("conf-policy")
    p = iam.create_policy(PolicyName=pname, PolicyDocument=POLICY)["Policy"]
    assert p["DefaultVersionId"] == "v1" and p["IsAttachable"] is True
    assert iam.get_policy(PolicyArn=p["Arn"])["Policy"]["PolicyName"] == pname
    v = iam.create_policy_version(PolicyArn=p["Arn"], PolicyDocument=POLICY, SetAsDefault=True)
    assert v["PolicyVersion"]["VersionId"] == "v2"
    doc = iam.get_policy_version(PolicyArn=p["Arn"], VersionId="v2")["PolicyVersion"]["Document"]
    assert doc == json.loads(POLICY)
    assert len(iam.list_policy_versions(PolicyArn=p["Arn"])["Versions"]) == 2
    error(iam.delete_policy, "DeleteConflict", 409, PolicyArn=p["Arn"])
    iam.delete_policy_version(PolicyArn=p["Arn"], VersionId="v1")
    assert any(x["Arn"] == p["Arn"] for x in iam.list_policies(Scope="Local")["Policies"])
    iam.delete_policy(PolicyArn=p["Arn"])
    error(iam.get_policy, "NoSuchEntity", 404, PolicyArn=p["Arn"])
    exec_doc = iam.get_policy_version(PolicyArn=EXEC, VersionId="v1")["PolicyVersion"]["Document"]
    assert len(exec_doc["Statement"][0]["Action"]) == 6

    iam.tag_role(RoleName=name, Tags=[{"Key": "a", "Value": "1"}])
    iam.untag_role(RoleName=name, TagKeys=["k"])
    assert iam.list_role_tags(RoleName=name)["Tags"] == [{"Key": "a", "Value": "1"}]

    me = sts.get_caller_identity()
    assert me["Arn"] == "arn:aws:iam::000000000000:root"
    assumed = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="conf")
    assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::000000000000:assumed-role/{name}/conf"
    assert assumed["Credentials"]["AccessKeyId"].startswith("ASIA")
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn="arn:aws:iam::000000000000:role/nope", RoleSessionName="conf")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    iam.detach_role_policy(RoleName=name, PolicyArn=EXEC)
    iam.delete_role_policy(RoleName=name, PolicyName="p")
    iam.delete_role(RoleName=name)
