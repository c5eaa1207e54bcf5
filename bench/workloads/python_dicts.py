# bench/preload's Python workload: dicts, strings, lists and a sort, about 200 MB at its peak.
import hashlib

table = {}
for i in range(1000000):
    table[i] = str(i * 7919 % 1000003) * 3
values = sorted(table.values())
blob = "".join(values[:300000]).encode()
print(len(values), hashlib.sha256(blob).hexdigest())
