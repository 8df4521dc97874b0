"""The issue's reference TUF client for verify-catalog.ts: python-tuf's ngclient Updater, used
as its documentation shows: refresh(), then get_targetinfo() and download_target() for every
target, one after the other. It checks what TUF checks (metadata, lengths, hashes).

Run by verify-catalog.ts when BENCH_PYTHON_TUF names a python-tuf source tree (PYTHONPATH):
  python3 python-tuf-reference.py BASE_URL ROOT_JSON TARGETS_JSON
Prints one JSON line: {"targets": N}. Exits non-zero at the first target that fails.
"""

import json
import os
import shutil
import sys
import tempfile

from tuf.ngclient import Updater


def main() -> int:
    base, root, names_file = sys.argv[1:4]
    with open(names_file, encoding="utf-8") as f:
        names = json.load(f)
    scratch = tempfile.mkdtemp(prefix="python-tuf-ref-")
    try:
        metadata_dir = os.path.join(scratch, "metadata")
        target_dir = os.path.join(scratch, "targets")
        os.makedirs(metadata_dir)
        os.makedirs(target_dir)
        shutil.copyfile(root, os.path.join(metadata_dir, "root.json"))
        updater = Updater(
            metadata_dir=metadata_dir,
            metadata_base_url=base + "/tuf/",
            target_base_url=base + "/tuf/targets/",
            target_dir=target_dir,
        )
        updater.refresh()
        n = 0
        for name in names:
            info = updater.get_targetinfo(name)
            if info is None:
                raise RuntimeError(name + ": not found")
            updater.download_target(info, os.path.join(target_dir, "target.bin"))
            n += 1
        print(json.dumps({"targets": n}))
        return 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
