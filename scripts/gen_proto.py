"""Regenerate the Python code for proto/tuneloop/v1 into sdk/tuneloop/v1.

    python scripts/gen_proto.py            # rewrite the committed files
    python scripts/gen_proto.py --check    # exit 1 if the committed files are stale

The generated modules are committed so that installing the SDK needs no protoc; the
check runs in CI so that the .proto files and the code can never drift apart.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
OUT_ROOT = ROOT / "sdk"
PACKAGE = Path("tuneloop") / "v1"
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(out_root: Path) -> list[Path]:
    protos = sorted((PROTO_ROOT / PACKAGE).glob("*.proto"))
    (out_root / PACKAGE).mkdir(parents=True, exist_ok=True)
    include = str(Path(protoc.__file__).parent / "_proto")
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *(str(p.relative_to(PROTO_ROOT)) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(p for p in (out_root / PACKAGE).iterdir() if p.name.endswith(SUFFIXES))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if committed code is stale")
    args = parser.parse_args()
    committed = OUT_ROOT / PACKAGE
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        fresh_names = {p.name for p in fresh}
        old_names = {p.name for p in committed.glob("*") if p.name.endswith(SUFFIXES)}
        stale = sorted(
            name for name in fresh_names | old_names
            if name not in fresh_names or name not in old_names
            or not filecmp.cmp(Path(tmp) / PACKAGE / name, committed / name, shallow=False)
        )
        if args.check:
            if stale:
                print("generated code is stale; run: python scripts/gen_proto.py", file=sys.stderr)
                for name in stale:
                    print(f"  {committed.relative_to(ROOT) / name}", file=sys.stderr)
                return 1
            print("generated code matches proto/")
            return 0
        for name in old_names - fresh_names:
            (committed / name).unlink()
        for path in fresh:
            shutil.copyfile(path, committed / path.name)
        print(f"wrote {len(fresh)} files to {committed.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
