"""Reads from a local esc-server through the official Python SDK (pulumi-esc-sdk).

Usage: read.py HOST TOKEN. Prints one JSON object of what the SDK returned, for the Rust test
to assert on. Any SDK error (a shape it cannot parse, a failed call) fails the script.
"""

import json
import sys

import pulumi_esc_sdk as esc


def traced(node):
    """Whether every node of a raw wire value carries a trace."""
    if not isinstance(node, dict) or not isinstance(node.get("trace"), dict):
        return False
    inner = node.get("value")
    if isinstance(inner, list):
        return all(traced(v) for v in inner)
    if isinstance(inner, dict):
        return all(traced(v) for v in inner.values())
    return True


def main():
    host, token = sys.argv[1], sys.argv[2]
    client = esc.EscClient(esc.Configuration(host=host, access_token=token))
    org, project, env = "acme", "shop", "dev"

    listed = client.list_environments(org)
    definition, raw_definition = client.get_environment(org, project, env)
    environment, values, raw = client.open_and_read_environment(org, project, env)
    properties = json.loads(raw)["properties"]
    session = client.open_environment(org, project, env)
    port, port_value = client.read_open_environment_property(
        org, project, env, session.id, "app.port")
    _, pinned, _ = client.open_and_read_environment_at_version(org, project, env, "1")
    revisions = client.list_environment_revisions(org, project, env)
    tags = client.list_environment_revision_tags(org, project, env)
    checked = client.check_environment_yaml(org, "values:\n  x: 1\n")

    print(json.dumps({
        "environments": [f"{e.project}/{e.name}" for e in listed.environments],
        "definition_values": definition.values.to_dict() if definition.values else None,
        "raw_definition": raw_definition.decode() if isinstance(raw_definition, bytes)
        else raw_definition,
        "values": values,
        "all_traced": all(traced(v) for v in properties.values()),
        "model_traced": all(v.trace is not None for v in environment.properties.values()),
        "secret_flags": {k: bool(v.secret) for k, v in environment.properties.items()},
        "port": port_value,
        "port_traced": port.trace is not None,
        "pinned": pinned,
        "revisions": [r.number for r in revisions],
        "tags": [t.name for t in tags.tags],
        "checked": {k: v.value for k, v in (checked.properties or {}).items()},
    }))


if __name__ == "__main__":
    main()
