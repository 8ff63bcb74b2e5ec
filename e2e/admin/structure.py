#!/usr/bin/python3
"""Key/type structure of AdminServer answers, and its comparison.

  structure.py show PATH [--no-header]
      PATH is one JSON file or a directory written by fetch.py; prints the
      structure of each answer (for a directory also method, path, HTTP
      status and Content-Type, in the order of its responses.tsv).

  structure.py compare A B [A2 B2 ...] [--names zookeeper,zab] [--strict-numbers]
                       [--max-lines N]
      A and B are two JSON files, or two directories written by fetch.py
      (A is the reference). Prints one line per request, `match` or
      `DIFFERENT` followed by the differences, then `admin: N passed, M
      failed`. With more than one pair (ensemble.sh: leader and follower)
      each label is prefixed with the name of its A directory and the
      summary counts all pairs. At most N difference lines per request
      (default 40; 0: all). Exit status 0 when everything matched, 1
      otherwise, 2 on a usage or input error.

The structure of a JSON document is the set of its key paths, each with the
JSON types seen there: `server_stats/uptime: number(int)`. Array elements
are merged into one `[]` step (`connections[]/session_id`), so a list of
three objects has the keys of all three. Objects whose keys are data rather
than field names (session ids, paths, expiry times, server ids, Java system
properties; see DYNAMIC) are merged the same way into one `<placeholder>`
step, and so are the data parts of mntr key names
(`avg_<namespace>_read_per_namespace`, `cnt_<sid>_learner_handler_qp_size`;
see KEY_PATTERNS). Values are left out because they depend on the run, with
two exceptions that do not: the top-level `command` (the primary name of the
command that answered) and `error` (null or a fixed message) are compared
by value. Numbers are one type, `number`, in comparisons; `show` prints
whether ZooKeeper wrote an integer or a float literal (`--strict-numbers`
makes compare tell them apart too).

What is compared per request depends on its check column in responses.tsv
(see fetch.py): json -> HTTP status, media type of Content-Type (without
parameters) and structure; text -> status and the exact body; status ->
status only; info -> nothing (printed, not counted).

Python 3 standard library only.
"""

import json
import os
import re
import sys

# The AdminServer commands of ZooKeeper 3.8.0 (server/admin/Commands.java at
# release-3.8.0-1), in registration order: primary name, then its aliases.
COMMANDS = [
    ("connection_stat_reset", ["crst"]),
    ("configuration", ["conf", "config"]),
    ("connections", ["cons"]),
    ("hash", []),
    ("dirs", []),
    ("dump", []),
    ("environment", ["env", "envi"]),
    ("get_trace_mask", ["gtmk"]),
    ("initial_configuration", ["icfg"]),
    ("is_read_only", ["isro"]),
    ("last_snapshot", ["lsnp"]),
    ("leader", ["lead"]),
    ("monitor", ["mntr"]),
    ("observer_connection_stat_reset", ["orst"]),
    ("ruok", []),
    ("set_trace_mask", ["stmk"]),
    ("server_stats", ["srvr"]),
    ("stats", ["stat"]),
    ("stat_reset", ["srst"]),
    ("observers", ["obsr"]),
    ("system_properties", ["sysp"]),
    ("voting_view", []),
    ("watches", ["wchc"]),
    ("watches_by_path", ["wchp"]),
    ("watch_summary", ["wchs"]),
    ("zabstate", []),
]
PRIMARY = {name: primary for primary, aliases in COMMANDS for name in [primary] + aliases}

# Objects whose keys are data: (primary command, key path) -> placeholder.
# An empty key path is the top-level object (all keys but command and error).
DYNAMIC = {
    ("dump", ("expiry_time_to_session_ids",)): "<expiry_time>",
    ("dump", ("session_id_to_ephemeral_paths",)): "<session_id>",
    ("watches", ("session_id_to_watched_paths",)): "<session_id>",
    ("watches_by_path", ("path_to_session_ids",)): "<path>",
    ("voting_view", ("current_config",)): "<server_id>",
    ("system_properties", ()): "<property>",
}
# Top-level keys with data inside the name: (primary command) -> [(regex, replacement)].
# mntr's per-namespace summaries are named after the top-level znodes that were read or
# written (ZooKeeper writes below /zookeeper itself in an ensemble), the leader's per-learner
# summaries after the learners' server ids.
KEY_PATTERNS = {
    "monitor": [
        (re.compile(r"^(avg|min|max|cnt|sum)_.+_(read|write)_per_namespace$"),
         r"\1_<namespace>_\2_per_namespace"),
        (re.compile(r"^(avg|min|max|cnt|sum|p50|p95|p99|p999)_\d+_learner_handler_qp_(size|time_ms)$"),
         r"\1_<sid>_learner_handler_qp_\2"),
    ],
}
VALUE_KEYS = ("command", "error")  # top-level keys compared by value
NOT_JSON = "<not json>"


# ---- extraction -------------------------------------------------------------

def type_of(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def step_name(key):
    """A key as one path step; quoted when it could be mistaken for syntax."""
    if key and not any(c in key for c in '/[]:="<> ') and key == key.strip():
        return key
    return json.dumps(key)


class Structure:
    """Key path -> set of types, in first-seen order; plus top-level values."""

    def __init__(self, command=None):
        self.command = command  # primary name, selects DYNAMIC entries
        self.paths = {}
        self.values = {}

    def add(self, path, t):
        self.paths.setdefault(path, set()).add(t)

    def walk(self, value, path, keys):
        t = type_of(value)
        self.add(path, t)
        if t == "object":
            for k, v in value.items():
                step, key = self.step(k, keys)
                self.walk(v, (path + "/" if path else "") + step, keys + (key,))
        elif t == "array":
            for v in value:
                self.walk(v, path + "[]", keys + ("[]",))

    def step(self, k, keys):
        """(path step, key) for key k of the object at key path `keys`."""
        placeholder = DYNAMIC.get((self.command, keys))
        if placeholder and not (keys == () and k in VALUE_KEYS):
            return placeholder, placeholder
        if keys == ():
            for pattern, replacement in KEY_PATTERNS.get(self.command, []):
                if pattern.match(k):
                    return pattern.sub(replacement, k), k
        return step_name(k), k


def extract(doc, label=None):
    """Structure of a parsed JSON document (or NOT_JSON for a body that is not)."""
    command = None
    if isinstance(doc, dict) and isinstance(doc.get("command"), str):
        command = PRIMARY.get(doc["command"])
    if command is None and label is not None:
        command = PRIMARY.get(label.split("+")[0])
    s = Structure(command)
    if doc is NOT_JSON:
        s.add("", NOT_JSON)
        return s
    s.walk(doc, "", ())
    if isinstance(doc, dict):
        for k in VALUE_KEYS:
            if k in doc and isinstance(doc[k], (str, type(None))):
                s.values[k] = doc[k]
    return s


def parse_body(text):
    try:
        return json.loads(text)
    except ValueError:
        return NOT_JSON


def show_types(types, strict):
    out = []
    nums = sorted(t for t in types if t in ("int", "float"))
    for t in sorted(types - {"int", "float"}):
        out.append(t)
    if nums:
        out.append("number(%s)" % "|".join(nums) if strict else "number")
    return "|".join(sorted(out))


def format_structure(s, indent="  "):
    lines = []
    for path, types in s.paths.items():
        name = path if path else "(root)"
        line = "%s%s: %s" % (indent, name, show_types(types, True))
        if isinstance(s.values.get(path), str):
            line += " = " + json.dumps(s.values[path])
        lines.append(line)
    return lines


# ---- fetch.py directories ---------------------------------------------------

class Response:
    def __init__(self, row, directory):
        self.label = row["label"]
        self.method = row["method"]
        self.path = row["path"]
        self.check = row["check"]
        self.status = row["status"]
        self.content_type = row["content_type"]
        self.body = ""
        if row["file"] != "-":
            with open(os.path.join(directory, row["file"]), encoding="utf-8", errors="replace") as f:
                self.body = f.read()

    @property
    def media_type(self):
        return self.content_type.split(";")[0].strip().lower()

    def structure(self):
        return extract(parse_body(self.body), self.label)


def load_dir(directory):
    """label -> Response, in the order of DIR/responses.tsv."""
    index = os.path.join(directory, "responses.tsv")
    out = {}
    with open(index, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            if line.strip():
                row = dict(zip(header, line.rstrip("\n").split("\t")))
                out[row["label"]] = Response(row, directory)
    return out


def load_file(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return extract(parse_body(f.read()), os.path.basename(path).rsplit(".", 1)[0])


# ---- show -------------------------------------------------------------------

def show(path, header=True):
    if os.path.isdir(path):
        for r in load_dir(path).values():
            if header:
                print("== %s  %s %s -> %s %s  [%s]" % (r.label, r.method, r.path, r.status,
                                                     r.content_type, r.check))
            if r.check == "json":
                print("\n".join(format_structure(r.structure())))
            elif r.check == "text":
                for line in r.body.splitlines():
                    print("  | " + line)
    else:
        print("\n".join(format_structure(load_file(path))))


# ---- compare ----------------------------------------------------------------

def is_below(path, top):
    """True when key path `path` lies inside the value at key path `top`."""
    if top == "":
        return path != ""
    return path.startswith(top + "/") or path.startswith(top + "[]")


def diff_structures(a, b, names, strict):
    """Differences between structures a (reference) and b, as lines.

    A key path missing on one side is listed once, at the top of the missing
    subtree, with the number of key paths below it; below a path whose type
    differs nothing more is listed (it follows from the type).
    """
    out = []
    na, nb = names

    def norm(types):
        return show_types(types, strict)

    retyped = [p for p in a.paths if p in b.paths and norm(a.paths[p]) != norm(b.paths[p])]
    for path in retyped:
        if not any(is_below(path, t) for t in retyped):
            out.append("type of %s: %s %s, %s %s" % (path or "(root)", na, norm(a.paths[path]),
                                                     nb, norm(b.paths[path])))
    for this, other, name in ((a, b, na), (b, a, nb)):
        only = [p for p in this.paths if p not in other.paths]
        for path in only:
            if any(is_below(path, t) for t in only + retyped):
                continue
            below = sum(1 for p in only if is_below(p, path))
            more = " (and %d key paths below it)" % below if below else ""
            out.append("only in %s: %s: %s%s" % (name, path or "(root)", norm(this.paths[path]), more))
    for k in VALUE_KEYS:
        if k in a.values and k in b.values and a.values[k] != b.values[k]:
            out.append("value of %s: %s %s, %s %s" % (k, na, json.dumps(a.values[k]),
                                                     nb, json.dumps(b.values[k])))
    return out


def diff_responses(ra, rb, names, strict):
    na, nb = names
    if rb is None:
        return ["no answer recorded from %s" % nb]
    out = []
    if ra.status != rb.status:
        out.append("HTTP status: %s %s, %s %s" % (na, ra.status, nb, rb.status))
    if ra.check == "json":
        if ra.media_type != rb.media_type:
            out.append("Content-Type: %s %r, %s %r" % (na, ra.content_type, nb, rb.content_type))
        out += diff_structures(ra.structure(), rb.structure(), names, strict)
    elif ra.check == "text" and ra.body != rb.body:
        out.append("body differs (%d vs %d bytes)" % (len(ra.body), len(rb.body)))
        la, lb = ra.body.splitlines(), rb.body.splitlines()
        for line in [x for x in la if x not in lb][:5]:
            out.append("  only in %s: %s" % (na, line))
        for line in [x for x in lb if x not in la][:5]:
            out.append("  only in %s: %s" % (nb, line))
    return out


def print_diffs(label, diffs, max_lines):
    print("  DIFFERENT  %s" % label)
    shown = diffs if max_lines <= 0 else diffs[:max_lines]
    for d in shown:
        print("      " + d)
    if len(shown) < len(diffs):
        print("      ... and %d more (--max-lines 0 shows all)" % (len(diffs) - len(shown)))


def compare(a, b, names, strict, prefix="", max_lines=40):
    """Returns (passed, failed) and prints the per-request lines."""
    passed = failed = 0
    if os.path.isdir(a) and os.path.isdir(b):
        da, db = load_dir(a), load_dir(b)
        for label, ra in da.items():
            rb = db.get(label)
            label = prefix + label
            if ra.check == "info":
                other = "-" if rb is None else "%s %s" % (rb.status, rb.content_type)
                print("  info       %-32s %s %s %s; %s %s" % (label, names[0], ra.status,
                                                          ra.content_type, names[1], other))
                continue
            diffs = diff_responses(ra, rb, names, strict)
            if diffs:
                failed += 1
                print_diffs(label, diffs, max_lines)
            else:
                passed += 1
                print("  match      %s" % label)
    elif os.path.isfile(a) and os.path.isfile(b):
        diffs = diff_structures(load_file(a), load_file(b), names, strict)
        label = prefix + os.path.basename(a)
        if diffs:
            failed = 1
            print_diffs(label, diffs, max_lines)
        else:
            passed = 1
            print("  match      %s" % label)
    else:
        raise ValueError("compare needs two JSON files or two fetch.py directories")
    return passed, failed


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    opts = [a for a in argv if a.startswith("--")]
    names = ("A", "B")
    strict = "--strict-numbers" in opts
    for o in opts:
        if o.startswith("--names="):
            names = tuple(o.split("=", 1)[1].split(",", 1))
    if "--names" in opts:  # "--names X,Y" form
        i = argv.index("--names")
        if i + 1 < len(argv):
            names = tuple(argv[i + 1].split(",", 1))
            args.remove(argv[i + 1])
    max_lines = 40
    if "--max-lines" in opts:
        i = argv.index("--max-lines")
        if i + 1 < len(argv) and argv[i + 1].isdigit():
            max_lines = int(argv[i + 1])
            args.remove(argv[i + 1])
    if len(names) != 2:
        print("structure.py: --names wants two names, a,b", file=sys.stderr)
        return 2
    try:
        if len(args) == 2 and args[0] == "show":
            show(args[1], header="--no-header" not in opts)
            return 0
        if len(args) >= 3 and len(args) % 2 == 1 and args[0] == "compare":
            passed = failed = 0
            pairs = list(zip(args[1::2], args[2::2]))
            for a, b in pairs:
                prefix = os.path.basename(os.path.normpath(a)) + ":" if len(pairs) > 1 else ""
                p, f = compare(a, b, names, strict, prefix, max_lines)
                passed, failed = passed + p, failed + f
            print("admin: %d passed, %d failed" % (passed, failed))
            return 1 if failed else 0
    except BrokenPipeError:
        return 1
    except (OSError, ValueError, KeyError) as e:
        print("structure.py: %s" % e, file=sys.stderr)
        return 2
    print("\n\n".join(__doc__.split("\n\n")[1:3]), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
