# Writes the input of the sort test: 400000 pseudo-random lines.
import random
import sys

random.seed(42)
with open(sys.argv[1], "w") as out:
    for _ in range(400000):
        out.write("%016x %s\n" % (random.getrandbits(64), "x" * random.randint(0, 40)))
