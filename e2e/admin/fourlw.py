#!/usr/bin/python3
"""Four-letter words on the client port: fetch them, and compare their keys.

  fourlw.py fetch PORT OUTDIR
      sends every word of WORDS to 127.0.0.1:PORT, one connection each, and
      writes the answer to OUTDIR/WORD.txt.

  fourlw.py show OUTDIR
      prints the normalised key lines of each answer.

  fourlw.py compare A B [A2 B2 ...] [--names zookeeper,zab] [--max-lines N]
      A and B are directories written by `fetch` (A is the reference). Prints
      one line per word, `match` or `DIFFERENT` with the differences, then
      `fourletter: N passed, M failed` (with more than one pair, labels are
      prefixed with the name of the A directory). Exit status 0 when all
      matched, 1 otherwise, 2 on a usage or input error.

What is compared is each answer's keys and the type of each value, never the
values themselves (they depend on the run):

  mntr        `zk_KEY<TAB>VALUE` lines: KEY and whether VALUE is an integer,
              a float (Java's Double.toString) or a string; the data parts of
              key names (namespaces, server ids) are replaced as in
              structure.py (`avg_<namespace>_read_per_namespace`).
  srvr, stat  `Key: value` lines (Key and the value's type); stat's client
              lines become `client(k1,k2,...)`, the keys in the parentheses.
  cons        each connection line as `client(k1,k2,...)`.
  conf, envi  `key=value` lines: key and the value's type.
  dirs        `key: value` lines.
  others      the text with numbers, hex ids and paths replaced
              (`<n>`, `<hex>`, `<path>`), line by line.

Python 3 standard library only.
"""

import os
import re
import socket
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from structure import KEY_PATTERNS  # noqa: E402

# Read-only words, in the order they are sent (crst, srst and stmk change state).
WORDS = ["ruok", "isro", "srvr", "stat", "mntr", "conf", "cons", "envi", "wchs", "wchc", "wchp",
         "dump", "dirs", "gtmk", "hash"]

INT = re.compile(r"^-?\d+$")
FLOAT = re.compile(r"^-?(\d+\.\d+(E-?\d+)?|NaN|-?Infinity)$")


def fetch_word(port, word, timeout=10.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(word.encode())
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode("utf-8", errors="replace")


def fetch(port, outdir):
    os.makedirs(outdir, exist_ok=True)
    for w in WORDS:
        try:
            text = fetch_word(port, w)
        except OSError as e:
            text = "<no answer: %s>" % e
        with open(os.path.join(outdir, w + ".txt"), "w", encoding="utf-8") as f:
            f.write(text)
    return 0


def type_of(v):
    v = v.strip()
    if INT.match(v):
        return "int"
    if FLOAT.match(v):
        return "float"
    return "string"


def client_keys(line):
    """` /127.0.0.1:5[1](queued=0,recved=1,...)` -> `client(queued,recved,...)`."""
    m = re.search(r"\((.*)\)\s*$", line)
    if not m:
        return "client(?)"
    return "client(%s)" % ",".join(kv.split("=", 1)[0] for kv in m.group(1).split(","))


def normalise_text(line):
    line = re.sub(r"0x[0-9a-fA-F]+", "<hex>", line)
    line = re.sub(r"(?<![\w<])/[^\s,()]*", "<path>", line)
    line = re.sub(r"-?\d+(\.\d+)?", "<n>", line)
    return line


def mntr_key(k):
    for pattern, replacement in KEY_PATTERNS["monitor"]:
        if pattern.match(k):
            return pattern.sub(replacement, k)
    return k


def keys(word, text):
    """The normalised key lines of one answer, in order, without duplicates."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if word == "mntr":
            k, sep, v = line.partition("\t")
            item = "%s: %s" % (mntr_key(k[3:] if k.startswith("zk_") else k), type_of(v)) if sep else "line: " + line
        elif word in ("srvr", "stat", "cons") and line.startswith(" ") and "[" in line:
            item = client_keys(line)
        elif word in ("srvr", "stat", "dirs") and ": " in line:
            k, _, v = line.partition(": ")
            item = "%s: %s" % (k, type_of(v))
        elif word in ("conf", "envi") and "=" in line:
            k, _, v = line.partition("=")
            item = "%s=%s" % (k, type_of(v))
        else:
            item = normalise_text(line)
        if item not in out:
            out.append(item)
    return out


def load(directory):
    answers = {}
    for w in WORDS:
        path = os.path.join(directory, w + ".txt")
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                answers[w] = f.read()
    return answers


def compare(pairs, names, max_lines):
    passed = failed = 0
    for a, b in pairs:
        prefix = (os.path.basename(os.path.normpath(a)) + ":") if len(pairs) > 1 else ""
        da, db = load(a), load(b)
        for w in WORDS:
            if w not in da:
                continue
            ka = keys(w, da[w])
            kb = keys(w, db.get(w, ""))
            diffs = ["only in %s: %s" % (names[0], k) for k in ka if k not in kb]
            diffs += ["only in %s: %s" % (names[1], k) for k in kb if k not in ka]
            if diffs:
                failed += 1
                print("  DIFFERENT  %s%s" % (prefix, w))
                shown = diffs if max_lines <= 0 else diffs[:max_lines]
                for d in shown:
                    print("      " + d)
                if len(shown) < len(diffs):
                    print("      ... and %d more" % (len(diffs) - len(shown)))
            else:
                passed += 1
                print("  match      %s%s" % (prefix, w))
    print("fourletter: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def main(argv):
    if len(argv) == 3 and argv[0] == "fetch":
        return fetch(int(argv[1]), argv[2])
    if len(argv) == 2 and argv[0] == "show":
        for w, text in load(argv[1]).items():
            print("== " + w)
            for k in keys(w, text):
                print("  " + k)
        return 0
    if argv and argv[0] == "compare":
        args, names, max_lines = [], ("A", "B"), 40
        rest = argv[1:]
        while rest:
            if rest[0] == "--names" and len(rest) > 1:
                names = tuple(rest[1].split(",", 1))
                rest = rest[2:]
            elif rest[0] == "--max-lines" and len(rest) > 1 and rest[1].isdigit():
                max_lines = int(rest[1])
                rest = rest[2:]
            else:
                args.append(rest[0])
                rest = rest[1:]
        if len(names) == 2 and args and len(args) % 2 == 0:
            return compare(list(zip(args[::2], args[1::2])), names, max_lines)
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
