"""Clusters: CreateCluster, DescribeClusters, ListClusters, DeleteCluster,
UpdateCluster, UpdateClusterSettings, PutClusterCapacityProviders and
DescribeCapacityProviders, each on its happy path and its modeled errors."""

from scenario import SUBNETS, run_task, unique, wait_for
from wire import Client

ACCOUNT = "000000000000"
NOT_FOUND = "Cluster not found."


def test_create_cluster_echoes_what_was_asked(ecs):
    name = unique("c")
    out = ecs.call(
        "CreateCluster",
        {
            "clusterName": name,
            "tags": [{"key": "team", "value": "conf"}],
            "settings": [{"name": "containerInsights", "value": "enabled"}],
            "capacityProviders": ["FARGATE", "FARGATE_SPOT"],
            "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1, "base": 1}],
            "configuration": {"executeCommandConfiguration": {"logging": "DEFAULT"}},
        },
    )
    c = out["cluster"]
    assert c["clusterName"] == name
    assert c["clusterArn"].endswith(f":cluster/{name}")
    assert c["clusterArn"].startswith("arn:aws:ecs:us-east-1:")
    assert c["status"] == "ACTIVE"
    assert c["tags"] == [{"key": "team", "value": "conf"}]
    assert {"name": "containerInsights", "value": "enabled"} in c["settings"]
    assert c["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert c["runningTasksCount"] == 0 and c["pendingTasksCount"] == 0
    # CreateCluster on an existing name answers with that cluster.
    again = ecs.call("CreateCluster", {"clusterName": name})
    assert again["cluster"]["clusterArn"] == c["clusterArn"]


def test_create_cluster_without_a_name_is_default(ecs):
    out = ecs.call("CreateCluster", {})
    assert out["cluster"]["clusterName"] == "default"


def test_create_cluster_errors(ecs):
    ecs.error(
        "CreateCluster",
        {"clusterName": "has space"},
        "InvalidParameterException",
    )
    ecs.error(
        "CreateCluster",
        {"clusterName": unique("c"), "settings": [{"name": "containerInsights", "value": "maybe"}]},
        "InvalidParameterException",
    )
    ecs.error(
        "CreateCluster",
        {"clusterName": unique("c"), "capacityProviders": ["my-asg-provider"]},
        "InvalidParameterException",
    )


def test_describe_clusters_include_counts_and_missing(ecs, cluster, running_task):
    missing = unique("nope")
    out = ecs.call(
        "DescribeClusters",
        {
            "clusters": [cluster, missing],
            "include": ["ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS"],
        },
    )
    assert len(out["clusters"]) == 1
    c = out["clusters"][0]
    assert c["clusterName"] == cluster
    assert c["runningTasksCount"] >= 1
    stats = {s["name"]: s["value"] for s in c["statistics"]}
    assert int(stats["runningFargateTasksCount"]) == c["runningTasksCount"]
    assert out["failures"] == [
        {"arn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/{missing}", "reason": "MISSING"}
    ]
    # Without include the optional parts are not filled in.
    plain = ecs.call("DescribeClusters", {"clusters": [cluster]})["clusters"][0]
    assert not plain.get("statistics") and not plain.get("tags")


def test_describe_clusters_bad_include(ecs):
    # botocore does not check enums client-side, so this is legal SDK input.
    ecs.error("DescribeClusters", {"include": ["EVERYTHING"]}, "InvalidParameterException")


def test_list_clusters_paginates(ecs):
    names = [unique("page") for _ in range(3)]
    for n in names:
        ecs.call("CreateCluster", {"clusterName": n})
    seen, token, pages = [], None, 0
    while True:
        params = {"maxResults": 2}
        if token:
            params["nextToken"] = token
        out = ecs.call("ListClusters", params)
        pages += 1
        assert len(out["clusterArns"]) <= 2
        seen.extend(out["clusterArns"])
        token = out.get("nextToken")
        if not token:
            break
    assert pages >= 2
    assert len(seen) == len(set(seen))
    for n in names:
        assert any(a.endswith(f"/{n}") for a in seen)
    ecs.error("ListClusters", {"nextToken": "not-a-token"}, "InvalidParameterException")
    ecs.error("ListClusters", {"maxResults": 101}, "InvalidParameterException")


def test_delete_cluster(ecs):
    name = unique("del")
    ecs.call("CreateCluster", {"clusterName": name})
    out = ecs.call("DeleteCluster", {"cluster": name})
    assert out["cluster"]["status"] == "INACTIVE"
    # Deleted clusters are still describable, INACTIVE, for a while.
    d = ecs.call("DescribeClusters", {"clusters": [name]})
    assert [c["status"] for c in d["clusters"]] == ["INACTIVE"]
    ecs.error("DeleteCluster", {"cluster": name}, "ClusterNotFoundException", NOT_FOUND)
    ecs.error("DeleteCluster", {"cluster": unique("nope")}, "ClusterNotFoundException", NOT_FOUND)


def test_delete_cluster_with_a_running_task(ecs, task_definition):
    name = unique("busy")
    ecs.call("CreateCluster", {"clusterName": name})
    t = run_task(ecs, name, task_definition)
    ecs.error(
        "DeleteCluster",
        {"cluster": name},
        "ClusterContainsTasksException",
        "The Cluster cannot be deleted while Tasks are active.",
    )
    ecs.call("StopTask", {"cluster": name, "task": t["taskArn"]})
    wait_for(ecs, name, [t["taskArn"]], "STOPPED")
    assert ecs.call("DeleteCluster", {"cluster": name})["cluster"]["status"] == "INACTIVE"


def test_update_cluster(ecs):
    name = unique("upd")
    ecs.call("CreateCluster", {"clusterName": name})
    out = ecs.call(
        "UpdateCluster",
        {
            "cluster": name,
            "settings": [{"name": "containerInsights", "value": "enhanced"}],
            "configuration": {"executeCommandConfiguration": {"logging": "NONE"}},
        },
    )
    c = out["cluster"]
    assert {"name": "containerInsights", "value": "enhanced"} in c["settings"]
    assert c["configuration"]["executeCommandConfiguration"]["logging"] == "NONE"
    ecs.error("UpdateCluster", {"cluster": unique("nope")}, "ClusterNotFoundException", NOT_FOUND)
    ecs.error(
        "UpdateCluster",
        {"cluster": name, "settings": [{"name": "containerInsights", "value": "loud"}]},
        "InvalidParameterException",
    )


def test_update_cluster_settings(ecs):
    name = unique("set")
    ecs.call("CreateCluster", {"clusterName": name})
    out = ecs.call(
        "UpdateClusterSettings",
        {"cluster": name, "settings": [{"name": "containerInsights", "value": "enabled"}]},
    )
    assert {"name": "containerInsights", "value": "enabled"} in out["cluster"]["settings"]
    ecs.error(
        "UpdateClusterSettings",
        {"cluster": unique("nope"), "settings": [{"name": "containerInsights", "value": "enabled"}]},
        "ClusterNotFoundException",
        NOT_FOUND,
    )
    ecs.error(
        "UpdateClusterSettings",
        {"cluster": name, "settings": [{"name": "containerInsights", "value": "loud"}]},
        "InvalidParameterException",
    )


def test_put_cluster_capacity_providers(ecs):
    name = unique("cp")
    ecs.call("CreateCluster", {"clusterName": name})
    out = ecs.call(
        "PutClusterCapacityProviders",
        {
            "cluster": name,
            "capacityProviders": ["FARGATE_SPOT"],
            "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 2}],
        },
    )
    c = out["cluster"]
    assert c["capacityProviders"] == ["FARGATE_SPOT"]
    assert c["defaultCapacityProviderStrategy"][0]["capacityProvider"] == "FARGATE_SPOT"
    ecs.error(
        "PutClusterCapacityProviders",
        {"cluster": unique("nope"), "capacityProviders": [], "defaultCapacityProviderStrategy": []},
        "ClusterNotFoundException",
        NOT_FOUND,
    )
    ecs.error(
        "PutClusterCapacityProviders",
        {"cluster": name, "capacityProviders": ["asg-one"], "defaultCapacityProviderStrategy": []},
        "InvalidParameterException",
    )
    ecs.error(
        "PutClusterCapacityProviders",
        {
            "cluster": name,
            "capacityProviders": ["FARGATE"],
            "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT"}],
        },
        "InvalidParameterException",
    )


def test_describe_capacity_providers(ecs, cluster):
    out = ecs.call("DescribeCapacityProviders", {})
    names = sorted(p["name"] for p in out["capacityProviders"])
    assert names == ["FARGATE", "FARGATE_SPOT"]
    for p in out["capacityProviders"]:
        assert p["status"] == "ACTIVE"
    out = ecs.call("DescribeCapacityProviders", {"capacityProviders": ["FARGATE", "nope"]})
    assert [p["name"] for p in out["capacityProviders"]] == ["FARGATE"]
    assert [f["reason"] for f in out["failures"]] == ["MISSING"]
    assert out["failures"][0]["arn"].endswith(":capacity-provider/nope")
    out = ecs.call("DescribeCapacityProviders", {"maxResults": 1})
    assert len(out["capacityProviders"]) == 1 and out["nextToken"]
    rest = ecs.call("DescribeCapacityProviders", {"maxResults": 1, "nextToken": out["nextToken"]})
    assert len(rest["capacityProviders"]) == 1 and "nextToken" not in rest
    ecs.error("DescribeCapacityProviders", {"nextToken": "garbage"}, "InvalidParameterException")


def test_run_task_needs_the_cluster(ecs, task_definition):
    ecs.error(
        "RunTask",
        {
            "cluster": unique("nope"),
            "taskDefinition": task_definition,
            "launchType": "FARGATE",
            "networkConfiguration": SUBNETS,
        },
        "ClusterNotFoundException",
        NOT_FOUND,
    )


def test_the_region_comes_from_the_credential_scope(ecs, emulator):
    """SDKs send the region only in the SigV4 credential scope."""
    eu = Client(emulator.endpoint, region="eu-west-1")
    name = unique("eu")
    arn = eu.call("CreateCluster", {"clusterName": name})["cluster"]["clusterArn"]
    assert arn.startswith("arn:aws:ecs:eu-west-1:"), arn
    assert arn in eu.call("ListClusters", {})["clusterArns"]
    assert not any(a.endswith(f"/{name}") for a in ecs.call("ListClusters", {})["clusterArns"])
    eu.call("DeleteCluster", {"cluster": name})
    ecs.log.extend(eu.log)
