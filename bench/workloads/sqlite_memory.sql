-- An SQLite workload on an in-memory database, so that every page is the heap's. The row
-- count comes from the parameter @rows (400000 in bench/preload, 150000 in the tests):
--   sqlite3 :memory: ".parameter set @rows 400000" ".read sqlite_memory.sql"
CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c INTEGER);
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < @rows)
INSERT INTO t SELECT x, printf('%08x-%s', (x * 2654435761) % 4294967296, substr('abcdefghijklmnopqrstuvwxyz', x % 26, 20)), x % 977 FROM n;
CREATE INDEX t_b ON t(b);
CREATE INDEX t_c ON t(c, b);
SELECT count(*), sum(length(b)), sum(c) FROM t WHERE b LIKE '%7f%';
SELECT c, count(*), min(b), max(b) FROM t GROUP BY c ORDER BY c LIMIT 5;
SELECT a, b FROM t ORDER BY b DESC LIMIT 3;
