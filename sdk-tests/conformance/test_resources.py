"""The small families: TagResource / UntagResource / ListTagsForResource on
clusters, task definitions and tasks; the account settings; and container
instances, of which a Fargate-only cluster has none."""

import pytest

from scenario import fargate_td, unique

ACCOUNT = "000000000000"


def _tag_roundtrip(ecs, arn):
    before = ecs.call("ListTagsForResource", {"resourceArn": arn})["tags"]
    ecs.call("TagResource", {"resourceArn": arn, "tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]})
    ecs.call("TagResource", {"resourceArn": arn, "tags": [{"key": "a", "value": "3"}]})
    tags = ecs.call("ListTagsForResource", {"resourceArn": arn})["tags"]
    assert tags == before + [{"key": "a", "value": "3"}, {"key": "b", "value": "2"}]
    ecs.call("UntagResource", {"resourceArn": arn, "tagKeys": ["a", "b"]})
    assert ecs.call("ListTagsForResource", {"resourceArn": arn})["tags"] == before


def test_tags_on_a_cluster(ecs):
    name = unique("tags")
    arn = ecs.call("CreateCluster", {"clusterName": name})["cluster"]["clusterArn"]
    _tag_roundtrip(ecs, arn)


def test_tags_on_a_task_definition(ecs):
    arn = ecs.call("RegisterTaskDefinition", fargate_td(unique("tags")))["taskDefinition"]["taskDefinitionArn"]
    _tag_roundtrip(ecs, arn)


def test_tags_on_a_task(ecs, running_task):
    _tag_roundtrip(ecs, running_task["taskArn"])


def test_a_tag_without_a_value(ecs, task_definition):
    """Tag.value is optional in the model; a bare key must come back without
    a null anywhere."""
    name = unique("bare")
    c = ecs.call("CreateCluster", {"clusterName": name, "tags": [{"key": "flag"}]})["cluster"]
    assert c["tags"] == [{"key": "flag"}]
    assert ecs.call("ListTagsForResource", {"resourceArn": c["clusterArn"]})["tags"] == [{"key": "flag"}]
    td = ecs.call("RegisterTaskDefinition", fargate_td(unique("bare"), tags=[{"key": "flag"}]))
    assert td["tags"] == [{"key": "flag"}]
    arn = td["taskDefinition"]["taskDefinitionArn"]
    ecs.call("TagResource", {"resourceArn": arn, "tags": [{"key": "other"}]})
    assert ecs.call("ListTagsForResource", {"resourceArn": arn})["tags"] == [{"key": "flag"}, {"key": "other"}]


def test_tag_errors(ecs, cluster):
    arn = ecs.call("DescribeClusters", {"clusters": [cluster]})["clusters"][0]["clusterArn"]
    ghost_cluster = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/{unique('nope')}"
    ghost_td = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{unique('nope')}:1"
    ghost_task = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/{cluster}/0123456789abcdef0123456789abcdef"
    tags = [{"key": "a", "value": "1"}]
    for op, params in (
        ("TagResource", {"tags": tags}),
        ("UntagResource", {"tagKeys": ["a"]}),
        ("ListTagsForResource", {}),
    ):
        ecs.error(op, dict(params, resourceArn="not-an-arn"), "InvalidParameterException")
        ecs.error(op, dict(params, resourceArn=ghost_cluster), "ClusterNotFoundException", "Cluster not found.")
        for ghost in (ghost_td, ghost_task):
            # TagResource and UntagResource model ResourceNotFoundException;
            # ListTagsForResource does not, and answers InvalidParameterException.
            code = "InvalidParameterException" if op == "ListTagsForResource" else "ResourceNotFoundException"
            ecs.error(op, dict(params, resourceArn=ghost), code)
    ecs.error(
        "TagResource",
        {"resourceArn": arn, "tags": [{"key": "aws:reserved", "value": "x"}]},
        "InvalidParameterException",
    )
    ecs.error(
        "TagResource",
        {"resourceArn": arn, "tags": [{"key": f"k{i}", "value": "v"} for i in range(51)]},
        "InvalidParameterException",
    )


# ------------------------------------------------------------------ account settings


def test_account_settings_roundtrip(ecs):
    out = ecs.call("ListAccountSettings", {"effectiveSettings": True})
    names = {s["name"] for s in out["settings"]}
    assert {"taskLongArnFormat", "containerInsights"} <= names
    for s in out["settings"]:
        assert s["principalArn"].startswith("arn:aws:iam::")
    put = ecs.call("PutAccountSetting", {"name": "containerInsights", "value": "enabled"})
    assert put["setting"] == {
        "name": "containerInsights",
        "value": "enabled",
        "principalArn": put["setting"]["principalArn"],
        "type": "user",
    }
    mine = ecs.call("ListAccountSettings", {"name": "containerInsights"})
    assert [s["value"] for s in mine["settings"]] == ["enabled"]
    default = ecs.call("PutAccountSettingDefault", {"name": "awsvpcTrunking", "value": "enabled"})
    assert default["setting"]["value"] == "enabled"
    assert default["setting"]["principalArn"] == f"arn:aws:iam::{ACCOUNT}:root"
    deleted = ecs.call("DeleteAccountSetting", {"name": "containerInsights"})
    assert deleted["setting"]["name"] == "containerInsights"
    page = ecs.call("ListAccountSettings", {"effectiveSettings": True, "maxResults": 2})
    assert len(page["settings"]) == 2 and page["nextToken"]


@pytest.mark.parametrize(
    "op,params",
    [
        ("PutAccountSetting", {"name": "noSuchSetting", "value": "enabled"}),
        ("PutAccountSetting", {"name": "containerInsights", "value": "loud"}),
        ("PutAccountSettingDefault", {"name": "noSuchSetting", "value": "on"}),
        ("DeleteAccountSetting", {"name": "noSuchSetting"}),
        ("ListAccountSettings", {"name": "noSuchSetting"}),
    ],
    ids=["put-name", "put-value", "default-name", "delete-name", "list-name"],
)
def test_account_setting_errors(ecs, op, params):
    ecs.error(op, params, "InvalidParameterException")


# ------------------------------------------------------------------ container instances


def test_container_instances(ecs, cluster):
    out = ecs.call("ListContainerInstances", {"cluster": cluster})
    assert out["containerInstanceArns"] == []
    out = ecs.call("DescribeContainerInstances", {"cluster": cluster, "containerInstances": ["abc"]})
    assert out["containerInstances"] == []
    assert out["failures"] == [
        {"arn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:container-instance/{cluster}/abc", "reason": "MISSING"}
    ]
    ecs.error("ListContainerInstances", {"cluster": unique("nope")}, "ClusterNotFoundException", "Cluster not found.")
    ecs.error(
        "DescribeContainerInstances",
        {"cluster": unique("nope"), "containerInstances": ["abc"]},
        "ClusterNotFoundException",
        "Cluster not found.",
    )
    ecs.error("ListContainerInstances", {"cluster": cluster, "status": "GONE"}, "InvalidParameterException")
