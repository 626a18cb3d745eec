#!/usr/bin/env python3
"""A supervisord event listener: logs each event on stderr, then acknowledges it."""
import sys

while True:
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        break
    headers = dict(word.split(":", 1) for word in line.split())
    payload = sys.stdin.read(int(headers["len"]))
    sys.stderr.write("%s %s\n" % (line.strip(), payload))
    sys.stderr.flush()
    sys.stdout.write("RESULT 2\nOK")
    sys.stdout.flush()
