"""Reads a multi-document YAML stream on stdin and writes it back without the objects of the
kinds named as arguments (for a server-side dry run on a cluster that lacks those kinds' CRDs).
Used by e2e/k8s/packaging.sh; never changes the objects it keeps."""
import sys

import yaml

drop = set(sys.argv[1:])
kept = [d for d in yaml.safe_load_all(sys.stdin) if d and d.get("kind") not in drop]
yaml.safe_dump_all(kept, sys.stdout, sort_keys=False)
