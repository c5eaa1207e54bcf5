# A program that starts another (subprocess: vfork and exec, no fork): the child runs under
# vmemu too, but must not see the parent's swap file or statistics file.
import subprocess
import sys

child = subprocess.run(
    [sys.executable, "-c", "import os; print(os.environ.get('VMEMU_SWAP'), os.environ.get('VMEMU_STATS'))"],
    capture_output=True, text=True)
print(child.stdout, end="")
print(sum(range(10**6)))
