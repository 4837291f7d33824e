"""Reads a mounted file with a Python reader and prints what it read as JSON on stdout.

usage: read.py dotenv|pyyaml|ruamel FILE

dotenv prints the object python-dotenv's dotenv_values() returns (interpolation on, its
default); the YAML readers print each top-level key as ["str", text], ["num", repr],
["bool", bool] or ["null"], so that a string read as a number shows.
"""
import json
import sys


def typed(value):
    if value is None:
        return ["null"]
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, (int, float)):
        return ["num", repr(value)]
    if isinstance(value, str):
        return ["str", value]
    return ["other", repr(value)]


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "dotenv":
        from dotenv import dotenv_values

        out = dict(dotenv_values(path))
    elif mode == "pyyaml":
        import yaml

        with open(path, encoding="utf-8") as f:
            out = {str(k): typed(v) for k, v in yaml.safe_load(f).items()}
    elif mode == "ruamel":
        from ruamel.yaml import YAML

        with open(path, encoding="utf-8") as f:
            out = {str(k): typed(v) for k, v in YAML(typ="safe", pure=True).load(f).items()}
    else:
        sys.exit(f"unknown mode {mode}")
    json.dump(out, sys.stdout, ensure_ascii=True)


main()
