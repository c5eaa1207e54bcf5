# File mappings under vmemu: what a program reads and writes through mmap, read(2), write(2),
# truncation, a resize, a fork and msync is what the kernel would give it. Prints what it saw,
# which the native run's output must equal.
import hashlib
import mmap
import os
import sys
import tempfile

PAGE = mmap.PAGESIZE


def digest(data):
    return hashlib.sha256(data).hexdigest()[:16]


def main():
    big_pages = int(sys.argv[1]) if len(sys.argv) > 1 else 8192
    with tempfile.TemporaryDirectory(dir="/var/tmp") as work:
        path = os.path.join(work, "data")
        with open(path, "wb") as f:
            f.write(bytes(range(256)) * (16 * PAGE // 256))
        fd = os.open(path, os.O_RDWR)
        m = mmap.mmap(fd, 16 * PAGE, mmap.MAP_SHARED)
        print("first bytes", m[:8].hex(), digest(m[:]))
        # Stores, then read(2) without msync: the kernel's page cache makes them visible.
        m[100:110] = b"0123456789"
        print("pread sees stores", os.pread(fd, 10, 100))
        # write(2) and pwrite(2) through the kernel reach the mapping.
        os.pwrite(fd, b"PWRITE", 3 * PAGE - 2)
        print("mapping sees pwrite", m[3 * PAGE - 2:3 * PAGE + 4])
        os.lseek(fd, 5 * PAGE, os.SEEK_SET)
        os.write(fd, b"WRITE")
        print("mapping sees write", m[5 * PAGE:5 * PAGE + 5], os.lseek(fd, 0, os.SEEK_CUR))
        # O_APPEND: write(2) and even pwrite(2) land at the end, inside the mapping's last page.
        os.ftruncate(fd, 6 * PAGE - 20)
        afd = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.write(afd, b"APPEND")
        os.pwrite(afd, b"PAPPEND", 0)
        os.close(afd)
        print("appended", m[6 * PAGE - 21:6 * PAGE - 7], m[0:4].hex())
        os.ftruncate(fd, 16 * PAGE)
        # A private mapping: its writes are its own.
        p = mmap.mmap(fd, 4 * PAGE, mmap.MAP_PRIVATE)
        p[0:4] = b"PRIV"
        print("private", p[0:4], m[0:4].hex(), os.pread(fd, 4, 0).hex())
        # A child of fork() sees the parent's memory as it was, and its own stores are its own.
        pid = os.fork()
        if pid == 0:
            ok = m[100:110] == b"0123456789" and p[0:4] == b"PRIV"
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        print("child status", os.waitstatus_to_exitcode(status))
        m.flush()
        # Growing and shrinking: mmap.resize() is ftruncate(2) and mremap(2).
        m.resize(20 * PAGE)
        m[19 * PAGE:19 * PAGE + 4] = b"GROW"
        print("grown", os.fstat(fd).st_size, m[19 * PAGE:19 * PAGE + 4])
        m.resize(6 * PAGE + 7)
        print("shrunk", os.fstat(fd).st_size, digest(m[:]))
        os.truncate(path, 6 * PAGE)
        print("truncated", os.fstat(fd).st_size, digest(m[:6 * PAGE]))
        p.close()
        m.close()
        # A file bigger than the frames, read and written through a mapping.
        big = os.path.join(work, "big")
        with open(big, "wb") as f:
            for i in range(big_pages):
                f.write(i.to_bytes(8, "little") * (PAGE // 8))
        bfd = os.open(big, os.O_RDWR)
        b = mmap.mmap(bfd, big_pages * PAGE, mmap.MAP_SHARED)
        total = 0
        for i in range(0, big_pages, 3):
            total += int.from_bytes(b[i * PAGE:i * PAGE + 8], "little")
            b[i * PAGE + 8:i * PAGE + 16] = (i * 7).to_bytes(8, "little")
        print("big sum", total)
        b.close()
        os.close(bfd)
        with open(big, "rb") as f:
            data = f.read()
        print("big after", digest(data))
        os.close(fd)
        with open(path, "rb") as f:
            print("final", digest(f.read()))


main()
