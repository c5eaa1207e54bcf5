# A Python workload of dicts, strings, lists and a sort: about 200 MB at its peak with the
# default million entries (bench/preload), 65 MB with the 300000 of the tests.
#   python_dicts.py [ENTRIES]
import hashlib
import sys

entries = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
table = {}
for i in range(entries):
    table[i] = str(i * 7919 % 1000003) * 3
values = sorted(table.values())
blob = "".join(values[: entries * 3 // 10]).encode()
print(len(values), hashlib.sha256(blob).hexdigest())
