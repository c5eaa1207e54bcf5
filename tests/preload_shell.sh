# A shell script for `vmemu run`: bash keeps a 200000-element array in emulated memory, forks
# for every command substitution and pipeline, and execs programs with argv and environment
# strings built in its heap, much of which is in swap by then.
a=($(seq 1 200000))
/bin/echo "${#a[@]} ${a[199999]} ${a[@]:1000:5}"
x=$(printf "%s\n" "${a[@]}" | sort -n | tail -1)
echo "last $x"
for i in 1 2 3; do y=$(echo "${a[$((i * 5000))]}"); echo "sub $y"; done
env A="${a[*]:0:50}" /usr/bin/env | grep -c '^A=' 
