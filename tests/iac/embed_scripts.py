#!/usr/bin/env python3
"""Keep the user-data scripts embedded in infra/template.yaml identical to infra/scripts/.

A launch template or instance carries its user data inline, and the worker's instance role
may read nothing but its two join parameters, so the scripts cannot be fetched at boot.
The template therefore embeds each script as a YAML literal block, preceded by a marker:

    # embed: infra/scripts/worker-user-data.sh
    - |
      <the file, verbatim>

  embed_scripts.py            check: every marker's block equals its file (exit 1 if not),
                              the parsed template agrees, and each user data fits in 16 KB
  embed_scripts.py --write    rewrite the blocks from the files
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfn_yaml import load_template  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
MARKER = re.compile(r"^(?P<indent>\s*)# embed: (?P<path>\S+)\s*$")
BLOCK_START = re.compile(r"^(?P<indent>\s*)- \|\s*$")
USER_DATA_LIMIT = 16 * 1024  # EC2's limit on raw user data


def find_blocks(lines: list[str]):
    """Yields (path, start, end, content_indent): lines[start:end] are the block's content."""
    i = 0
    while i < len(lines):
        m = MARKER.match(lines[i])
        if not m:
            i += 1
            continue
        if i + 1 >= len(lines) or not BLOCK_START.match(lines[i + 1]):
            raise SystemExit(f"{TEMPLATE}:{i + 2}: '- |' expected after the embed marker")
        indent = len(BLOCK_START.match(lines[i + 1]).group("indent")) + 2
        start = end = i + 2
        while end < len(lines):
            line = lines[end]
            if line.strip() and len(line) - len(line.lstrip(" ")) < indent:
                break
            end += 1
        # Trailing blank lines belong to what follows, not to the block.
        while end > start and not lines[end - 1].strip():
            end -= 1
        yield m.group("path"), start, end, indent
        i = end


def block_text(lines: list[str], start: int, end: int, indent: int) -> str:
    return "".join(line[indent:] if line.strip() else "\n" for line in lines[start:end])


def render(text: str, indent: int) -> list[str]:
    if "\t" in text:
        raise SystemExit("tabs cannot be embedded in a YAML block; use spaces")
    pad = " " * indent
    return [(pad + line if line.strip() else "\n") for line in text.splitlines(keepends=True)]


def user_data_parts(node):
    """The string parts of a Fn::Base64 / Fn::Join user data, as the template parsed them."""
    join = node["Fn::Base64"]["Fn::Join"]
    parts = []
    for part in join[1]:
        if isinstance(part, dict) and "Fn::Sub" in part:
            sub = part["Fn::Sub"]
            parts.append(sub if isinstance(sub, str) else sub[0])
        elif isinstance(part, str):
            parts.append(part)
        else:
            raise SystemExit(f"unexpected user-data part {part!r}")
    return parts


def check_parsed(files: dict[str, str]) -> list[str]:
    errors = []
    resources = load_template(TEMPLATE)["Resources"]
    seen = set()
    for name, res in resources.items():
        props = res.get("Properties", {})
        node = props.get("UserData") or props.get("LaunchTemplateData", {}).get("UserData")
        if node is None:
            continue
        parts = user_data_parts(node)
        body = parts[-1]
        match = [p for p, text in files.items() if text == body]
        if not match:
            errors.append(f"{name}: its user data does not end with an embedded infra/scripts file")
            continue
        seen.update(match)
        raw = "".join(parts).encode()
        if len(raw) > USER_DATA_LIMIT * 0.9:
            errors.append(f"{name}: user data is {len(raw)} bytes, too close to EC2's {USER_DATA_LIMIT}")
        if not parts[0].startswith("#!/bin/bash\n"):
            errors.append(f"{name}: user data must start with #!/bin/bash")
        base64.b64encode(raw)
    for path in sorted(set(files) - seen):
        errors.append(f"{path} is embedded but no resource's user data uses it")
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite the embedded blocks from the files")
    args = parser.parse_args()

    lines = TEMPLATE.read_text().splitlines(keepends=True)
    blocks = list(find_blocks(lines))
    if not blocks:
        print(f"{TEMPLATE}: no '# embed:' markers", file=sys.stderr)
        return 1
    files = {path: (ROOT / path).read_text() for path, *_ in blocks}

    if args.write:
        for path, start, end, indent in reversed(blocks):
            lines[start:end] = render(files[path], indent)
        TEMPLATE.write_text("".join(lines))
        lines = TEMPLATE.read_text().splitlines(keepends=True)
        blocks = list(find_blocks(lines))

    errors = []
    for path, start, end, indent in blocks:
        if block_text(lines, start, end, indent) != files[path]:
            errors.append(f"{TEMPLATE.name}:{start + 1}: the copy of {path} differs from the file "
                          "(run tests/iac/embed_scripts.py --write)")
    if not errors:
        errors = check_parsed(files)
    for e in errors:
        print(f"embed_scripts: {e}", file=sys.stderr)
    if errors:
        return 1
    print(f"embed_scripts: {len(blocks)} scripts embedded verbatim in infra/template.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
