"""Every ECS model operation the emulator does not implement still answers
like ECS: a JSON error whose code is one of that operation's modeled errors
(not HTML, not a dropped connection, not a protocol error). Each request is
a legal SDK input built from the model."""

import time

import pytest

from scenario import IMPLEMENTED
from wire import MODEL

OTHERS = sorted(set(MODEL.operation_names) - IMPLEMENTED)


def minimal_input(shape, depth=0):
    """The smallest legal value of `shape`: required members only, the first
    enum value, one-character strings, empty lists."""
    t = shape.type_name
    if t == "structure":
        if getattr(shape, "is_tagged_union", False):
            # A union needs exactly one member set: the first will do.
            name = next(iter(shape.members))
            return {name: minimal_input(shape.members[name], depth + 1)}
        return {name: minimal_input(shape.members[name], depth + 1) for name in shape.required_members}
    if t == "list":
        return [minimal_input(shape.member, depth + 1)] if shape.metadata.get("min") else []
    if t == "map":
        return {}
    if t == "string":
        if shape.enum:
            return shape.enum[0]
        return "x" * max(1, shape.metadata.get("min", 1))
    if t in ("integer", "long"):
        return max(1, int(shape.metadata.get("min", 1)))
    if t in ("float", "double"):
        return 1.0
    if t == "boolean":
        return False
    if t == "timestamp":
        return time.time()
    if t == "blob":
        return b"x"
    return {}


def test_the_operation_lists_add_up():
    assert IMPLEMENTED <= set(MODEL.operation_names)
    assert len(OTHERS) == len(MODEL.operation_names) - len(IMPLEMENTED)


@pytest.mark.parametrize("op", OTHERS)
def test_unimplemented_operation_answers_a_modeled_json_error(ecs, op):
    params = minimal_input(MODEL.operation_model(op).input_shape)
    r = ecs.request(op, params)
    assert not r.ok, r.describe()
    assert r.problems == [], "\n".join(r.problems)
    assert r.status == 400, r.describe()
    assert op in r.message, f"the message should name the operation: {r.message!r}"
