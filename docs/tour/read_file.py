# The tour's page-cache program: maps a file and reads every page of it, three times, with
# mmap; the pages come through vmemu's page cache.
import mmap
import sys

with open(sys.argv[1], "rb") as f:
    view = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    total = 0
    for _ in range(3):
        for offset in range(0, len(view), 4096):
            total += view[offset]
    print(len(view) >> 20, "MiB mapped and read three times, checksum", total)
