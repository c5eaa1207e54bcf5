-- The SQLite test: an in-memory database, so that its pages are the heap's.
CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c INTEGER);
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 150000)
INSERT INTO t SELECT x, printf('%08x-%s', (x * 2654435761) % 4294967296, substr('abcdefghijklmnopqrstuvwxyz', x % 26, 20)), x % 977 FROM n;
CREATE INDEX t_b ON t(b);
SELECT count(*), sum(length(b)), sum(c) FROM t WHERE b LIKE '%7f%';
SELECT c, count(*), min(b), max(b) FROM t GROUP BY c ORDER BY c LIMIT 5;
