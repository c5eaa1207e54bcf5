# Python starting workers with fork (multiprocessing's "fork" start method), a subprocess,
# and a bare os.fork(): each child reads the parent's 200000-entry dict, which under vmemu
# lives in emulated memory, much of it in swap.
import multiprocessing as mp, os, subprocess
data = {i: str(i) * 10 for i in range(200000)}
def work(k):
    return sum(len(data[i]) for i in range(k, 200000, 7))
if __name__ == "__main__":
    mp.set_start_method("fork")
    with mp.Pool(3) as pool:
        print(pool.map(work, range(7)))
    print(subprocess.run(["sh", "-c", "echo from sh; exit 4"], capture_output=True, text=True))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, str(len(data)).encode()); os._exit(0)
    os.waitpid(pid, 0); print("child saw", os.read(r, 100).decode())
