-- sqlite with PRAGMA mmap_size: it reads its database through a shared file mapping and
-- writes it with pwrite(2). The database (the file sqlite3 opened) is rebuilt, queried,
-- changed, checked and vacuumed, in WAL mode, then read again by a second connection and
-- rewritten in rollback-journal mode. Every answer is printed. The parameter @rows sets the
-- size: 60000 rows make a database of about 3 MiB.
PRAGMA mmap_size = 268435456;
PRAGMA journal_mode = wal;
DROP TABLE IF EXISTS t;
CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, v TEXT);
CREATE INDEX t_k ON t (k);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < @rows)
INSERT INTO t SELECT i, (i * 7919) % 1000, printf('%08d-%02x-%s', i, i % 251, substr('abcdefghijklmnopqrstuvwxyz', 1 + i % 26)) FROM n;
SELECT count(*), sum(k), max(v) FROM t;
UPDATE t SET v = v || '-updated' WHERE k < 100;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), sum(length(v)), min(v) FROM t WHERE k BETWEEN 50 AND 150;
SELECT k, count(*) FROM t GROUP BY k ORDER BY count(*) DESC, k LIMIT 3;
PRAGMA wal_checkpoint(TRUNCATE);
PRAGMA integrity_check;
VACUUM;
SELECT count(*), sum(id) FROM t;
PRAGMA journal_mode = delete;
UPDATE t SET k = k + 1 WHERE id % 3 = 0;
SELECT count(*), sum(k) FROM t;
PRAGMA integrity_check;
