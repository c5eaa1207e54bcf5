# The tour's program: builds 40 MiB of bytearrays, one MiB at a time, then reads every one
# back twice, checking it. Under `vmemu run --frames 16M` it pages, and then swaps.
chunks = []
for i in range(40):
    chunks.append(bytearray([i % 251]) * (1 << 20))
for _ in range(2):
    for i, chunk in enumerate(chunks):
        assert chunk[0] == i % 251 and chunk[-1] == i % 251
print(sum(len(chunk) for chunk in chunks) >> 20, "MiB built and read back twice")
