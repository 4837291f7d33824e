"""Writes src/isprint_tables.rs from the installed Go's src/strconv/isprint.go.

python3 crates/esc-gotext/tables.py > crates/esc-gotext/src/isprint_tables.rs
"""
import re
import subprocess

root = subprocess.check_output(["go", "env", "GOROOT"]).decode().strip()
version = subprocess.check_output(["go", "env", "GOVERSION"]).decode().strip()
src = open(root + "/src/strconv/isprint.go").read()
src = re.sub(r"//[^\n]*", "", src)
out = [
    f"//! Go's `strconv` printability tables, from `src/strconv/isprint.go` of {version} (made by",
    "//! Go's `makeisprint.go` from its `unicode` tables); `tables.py` writes this file, and the",
    "//! ignored test `the_tables_are_the_installed_go_s` compares it with the installed Go's.",
    "",
]
for name, ty in [
    ("isPrint16", "u16"),
    ("isNotPrint16", "u16"),
    ("isPrint32", "u32"),
    ("isNotPrint32", "u16"),
    ("isGraphic", "u16"),
]:
    body = re.search(r"var %s = \[\]uint(?:16|32)\{(.*?)\}" % name, src, re.S).group(1)
    nums = re.findall(r"0x[0-9a-fA-F]+", body)
    rust = re.sub(r"([A-Z])", lambda m: "_" + m.group(1), name).upper()
    if name == "isNotPrint32":
        out.append("/// Each entry plus 0x10000.")
    out.append(f"pub(crate) const {rust}: &[{ty}] = &[")
    for i in range(0, len(nums), 8):
        out.append("    " + ", ".join(nums[i : i + 8]) + ",")
    out.append("];")
    out.append("")
print("\n".join(out).rstrip("\n"))
