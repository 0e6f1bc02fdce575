"""AWS Cloud Map (awsJson1.1, `Route53AutoNaming_v20170314`, same port as
ECS): namespaces (asynchronous, with GetOperation), services, instances,
health, DiscoverInstances and tags, each response walked against botocore's
`servicediscovery` model, and the modeled errors with the model's HTTP
codes (404 for what is not found, 409 for what is in use)."""

from __future__ import annotations

import pytest

from scenario import unique
from wire import Client


@pytest.fixture(scope="module")
def sd(emulator) -> Client:
    return Client(emulator.endpoint, "servicediscovery")


def finished(sd: Client, op_id: str) -> dict:
    op = sd.call("GetOperation", {"OperationId": op_id})["Operation"]
    assert op["Status"] == "SUCCESS", op
    return op


def test_namespaces_services_instances_and_discovery(sd):
    name = unique("conf") + ".local"
    op = sd.call("CreatePrivateDnsNamespace", {"Name": name, "Vpc": "vpc-1", "CreatorRequestId": name})
    ns_id = finished(sd, op["OperationId"])["Targets"]["NAMESPACE"]
    # A retry with the same CreatorRequestId is the same request.
    again = sd.call("CreatePrivateDnsNamespace", {"Name": name, "Vpc": "vpc-1", "CreatorRequestId": name})
    assert again["OperationId"] == op["OperationId"]
    sd.error("CreatePrivateDnsNamespace", {"Name": name, "Vpc": "vpc-1"}, "NamespaceAlreadyExists")
    ns = sd.call("GetNamespace", {"Id": ns_id})["Namespace"]
    assert ns["Type"] == "DNS_PRIVATE" and ns["Name"] == name
    assert ns["Properties"]["HttpProperties"]["HttpName"] == name
    assert ns["Properties"]["DnsProperties"]["HostedZoneId"].startswith("Z")
    listed = sd.call("ListNamespaces", {"Filters": [{"Name": "TYPE", "Values": ["DNS_PRIVATE"]}]})
    assert ns_id in [n["Id"] for n in listed["Namespaces"]]

    svc = sd.call(
        "CreateService",
        {
            "Name": "backend",
            "NamespaceId": ns_id,
            "DnsConfig": {"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 10}]},
            "HealthCheckCustomConfig": {"FailureThreshold": 1},
            "Tags": [{"Key": "team", "Value": "core"}],
        },
    )["Service"]
    assert svc["Type"] == "DNS_HTTP" and svc["NamespaceId"] == ns_id
    sd.error("CreateService", {"Name": "BACKEND", "NamespaceId": ns_id}, "ServiceAlreadyExists")
    sd.error("CreateService", {"Name": "x", "NamespaceId": "ns-doesnotexist0000"}, "NamespaceNotFound")
    listed = sd.call("ListServices", {"Filters": [{"Name": "NAMESPACE_ID", "Values": [ns_id]}]})
    assert [s["Id"] for s in listed["Services"]] == [svc["Id"]]

    for i, ip in (("task-a", "10.0.0.1"), ("task-b", "10.0.0.2")):
        op = sd.call(
            "RegisterInstance",
            {"ServiceId": svc["Id"], "InstanceId": i, "Attributes": {"AWS_INSTANCE_IPV4": ip, "AZ": "a"}},
        )
        assert finished(sd, op["OperationId"])["Type"] == "REGISTER_INSTANCE"
    sd.error(
        "RegisterInstance",
        {"ServiceId": svc["Id"], "InstanceId": "bad", "Attributes": {"AZ": "a"}},
        "InvalidInput",
    )
    sd.call(
        "UpdateInstanceCustomHealthStatus",
        {"ServiceId": svc["Id"], "InstanceId": "task-b", "Status": "UNHEALTHY"},
    )
    health = sd.call("GetInstancesHealthStatus", {"ServiceId": svc["Id"]})["Status"]
    assert health == {"task-a": "HEALTHY", "task-b": "UNHEALTHY"}
    got = sd.call("ListInstances", {"ServiceId": svc["Id"], "MaxResults": 1})
    assert len(got["Instances"]) == 1 and got.get("NextToken")
    rest = sd.call("ListInstances", {"ServiceId": svc["Id"], "NextToken": got["NextToken"]})
    assert {i["Id"] for i in got["Instances"] + rest["Instances"]} == {"task-a", "task-b"}
    # botocore sends DiscoverInstances to data-<host>; the wire is the same.
    found = sd.call(
        "DiscoverInstances", {"NamespaceName": name, "ServiceName": "backend", "HealthStatus": "HEALTHY"}
    )
    assert [i["InstanceId"] for i in found["Instances"]] == ["task-a"]
    assert found["Instances"][0]["Attributes"]["AWS_INSTANCE_IPV4"] == "10.0.0.1"
    sd.error("DiscoverInstances", {"NamespaceName": "nope.local", "ServiceName": "backend"}, "NamespaceNotFound")

    tags = sd.call("ListTagsForResource", {"ResourceARN": svc["Arn"]})["Tags"]
    assert tags == [{"Key": "team", "Value": "core"}]
    sd.call("UntagResource", {"ResourceARN": svc["Arn"], "TagKeys": ["team"]})
    assert sd.call("ListTagsForResource", {"ResourceARN": svc["Arn"]})["Tags"] == []
    sd.error("TagResource", {"ResourceARN": svc["Arn"] + "x", "Tags": []}, "ResourceNotFoundException")

    # In use: 409; unknown: 404.
    r = sd.error("DeleteNamespace", {"Id": ns_id}, "ResourceInUse")
    assert r.status == 409
    r = sd.error("DeleteService", {"Id": svc["Id"]}, "ResourceInUse")
    for i in ("task-a", "task-b"):
        sd.call("DeregisterInstance", {"ServiceId": svc["Id"], "InstanceId": i})
    r = sd.error("DeregisterInstance", {"ServiceId": svc["Id"], "InstanceId": "task-a"}, "InstanceNotFound")
    assert r.status == 404
    sd.call("DeleteService", {"Id": svc["Id"]})
    sd.error("GetService", {"Id": svc["Id"]}, "ServiceNotFound")
    finished(sd, sd.call("DeleteNamespace", {"Id": ns_id})["OperationId"])
    sd.error("GetNamespace", {"Id": ns_id}, "NamespaceNotFound")
    sd.error("GetOperation", {"OperationId": "nope"}, "OperationNotFound")


def test_http_namespaces_take_no_dns_config(sd):
    name = unique("conf-http")
    op = sd.call("CreateHttpNamespace", {"Name": name})
    ns_id = finished(sd, op["OperationId"])["Targets"]["NAMESPACE"]
    ns = sd.call("GetNamespace", {"Id": ns_id})["Namespace"]
    assert ns["Type"] == "HTTP" and "DnsProperties" not in ns["Properties"]
    sd.error(
        "CreateService",
        {"Name": "api", "NamespaceId": ns_id, "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 5}]}},
        "InvalidInput",
    )
    svc = sd.call("CreateService", {"Name": "api", "NamespaceId": ns_id})["Service"]
    assert svc["Type"] == "HTTP"
    sd.call("RegisterInstance", {"ServiceId": svc["Id"], "InstanceId": "i", "Attributes": {"k": "v"}})
    found = sd.call("DiscoverInstances", {"NamespaceName": name, "ServiceName": "api"})
    assert found["Instances"][0]["HealthStatus"] == "UNKNOWN"
    sd.error(
        "UpdateInstanceCustomHealthStatus",
        {"ServiceId": svc["Id"], "InstanceId": "i", "Status": "HEALTHY"},
        "CustomHealthNotFound",
    )
    sd.call("DeregisterInstance", {"ServiceId": svc["Id"], "InstanceId": "i"})
    sd.call("DeleteService", {"Id": svc["Id"]})
    sd.call("DeleteNamespace", {"Id": ns_id})


def sc_setup(sd, emulator, prefix, port_mappings):
    """An HTTP namespace, a cluster and a Fargate task definition with
    `port_mappings`, all named after `prefix`; the ECS client, the
    namespace's name and id, a CreateService request maker
    (`create(name, serviceConnectConfiguration)`)."""
    from scenario import SUBNETS, fargate_td

    ecs = Client(emulator.endpoint)
    ns_name = unique(prefix)
    op = sd.call("CreateHttpNamespace", {"Name": ns_name})
    ns_id = finished(sd, op["OperationId"])["Targets"]["NAMESPACE"]
    cluster = unique(prefix)
    ecs.call("CreateCluster", {"clusterName": cluster})
    td = fargate_td(unique(f"{prefix}-td"))
    td["containerDefinitions"][0]["portMappings"] = port_mappings
    td_arn = ecs.call("RegisterTaskDefinition", td)["taskDefinition"]["taskDefinitionArn"]

    def create(name, sc):
        return {
            "cluster": cluster,
            "serviceName": name,
            "taskDefinition": td_arn,
            "desiredCount": 0,
            "launchType": "FARGATE",
            "networkConfiguration": SUBNETS,
            "serviceConnectConfiguration": sc,
        }

    return ecs, ns_name, ns_id, cluster, create


def test_ecs_service_connect_configuration(sd, emulator):
    """ECS Service Connect against a Cloud Map namespace: the modeled errors,
    the configuration and `serviceConnectResources` on the deployment
    (walked against the ECS model), the Cloud Map service ECS makes, and
    ListServicesByNamespace."""
    ecs, ns_name, ns_id, cluster, create = sc_setup(
        sd, emulator, "sc", [{"containerPort": 8080, "name": "http", "appProtocol": "http"}]
    )
    ns_arn = sd.call("GetNamespace", {"Id": ns_id})["Namespace"]["Arn"]

    ecs.error("CreateService", create("a", {"enabled": True, "namespace": "missing-ns"}), "NamespaceNotFoundException")
    ecs.error(
        "CreateService",
        create("a", {"enabled": True, "namespace": ns_name, "services": [{"portName": "grpc"}]}),
        "InvalidParameterException",
    )
    sc = {
        "enabled": True,
        "namespace": ns_name,
        "services": [{"portName": "http", "discoveryName": "api", "clientAliases": [{"port": 80, "dnsName": "api"}]}],
    }
    s = ecs.call("CreateService", create("a", sc))["service"]
    [d] = s["deployments"]
    assert d["serviceConnectConfiguration"]["namespace"] == ns_arn
    [res] = d["serviceConnectResources"]
    assert res["discoveryName"] == "api"
    svc = sd.call("GetService", {"Id": res["discoveryArn"].rsplit("/", 1)[1]})["Service"]
    assert svc["Name"] == "api" and svc["NamespaceId"] == ns_id
    listed = ecs.call("ListServicesByNamespace", {"namespace": ns_arn})["serviceArns"]
    assert listed == [s["serviceArn"]]
    ecs.call("DeleteService", {"cluster": cluster, "service": "a", "force": True})


def test_ecs_service_connect_names_clash_between_services(sd, emulator):
    """Two services of one namespace may not share a `discoveryName` nor a
    client alias `dnsName:port`: the second CreateService (and an
    UpdateService taking the other's name) answers
    InvalidParameterException and creates nothing, neither the ECS service
    nor a Cloud Map service."""
    ecs, ns_name, ns_id, cluster, sc_create = sc_setup(
        sd,
        emulator,
        "scclash",
        [{"containerPort": 8080, "name": "http"}, {"containerPort": 9090, "name": "admin"}],
    )

    def create(name, services):
        return sc_create(name, {"enabled": True, "namespace": ns_name, "services": services})

    def cloud_map_names():
        listed = sd.call("ListServices", {"Filters": [{"Name": "NAMESPACE_ID", "Values": [ns_id]}]})
        return sorted(s["Name"] for s in listed["Services"])

    ecs.call(
        "CreateService",
        create("first", [{"portName": "http", "discoveryName": "api", "clientAliases": [{"port": 80, "dnsName": "api"}]}]),
    )
    assert cloud_map_names() == ["api"]
    # The same discoveryName, another alias.
    r = ecs.error(
        "CreateService",
        create("second", [{"portName": "http", "discoveryName": "api", "clientAliases": [{"port": 81, "dnsName": "other"}]}]),
        "InvalidParameterException",
    )
    assert "api" in r.message
    # Another discoveryName, the same client alias dnsName:port.
    r = ecs.error(
        "CreateService",
        create("second", [{"portName": "admin", "discoveryName": "admin", "clientAliases": [{"port": 80, "dnsName": "api"}]}]),
        "InvalidParameterException",
    )
    assert "api:80" in r.message
    # Nothing was created: no ECS service, no Cloud Map service.
    described = ecs.call("DescribeServices", {"cluster": cluster, "services": ["second"]})
    assert described["services"] == [] and described["failures"][0]["reason"] == "MISSING"
    assert cloud_map_names() == ["api"]
    # The same clash on UpdateService leaves the service as it was.
    ecs.call(
        "CreateService",
        create("third", [{"portName": "admin", "discoveryName": "admin", "clientAliases": [{"port": 90, "dnsName": "admin"}]}]),
    )
    upd = create("third", [{"portName": "http", "discoveryName": "api"}])
    ecs.error(
        "UpdateService",
        {"cluster": cluster, "service": "third", "serviceConnectConfiguration": upd["serviceConnectConfiguration"]},
        "InvalidParameterException",
    )
    [third] = ecs.call("DescribeServices", {"cluster": cluster, "services": ["third"]})["services"]
    assert [d["serviceConnectResources"][0]["discoveryName"] for d in third["deployments"]] == ["admin"]
    assert cloud_map_names() == ["admin", "api"]
    for name in ("first", "third"):
        ecs.call("DeleteService", {"cluster": cluster, "service": name, "force": True})
