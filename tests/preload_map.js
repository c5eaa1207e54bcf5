// A Map of 300,000 strings for `vmemu run`: node's peak RSS is about 140 MB.
const values = new Map();
for (let i = 0; i < 300000; i++)
    values.set('k' + i, 'v'.repeat(i % 50));
let total = 0;
for (const value of values.values())
    total += value.length;
console.log(total);
