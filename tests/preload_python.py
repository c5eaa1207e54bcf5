# A Python workload for the LD_PRELOAD tests: dicts, lists, strings and sorting.
import hashlib

table = {}
for i in range(300000):
    table[i] = str(i * 7919 % 1000003) * 3
values = sorted(table.values())
blob = "".join(values[:200000]).encode()
print(len(values), hashlib.sha256(blob).hexdigest())
