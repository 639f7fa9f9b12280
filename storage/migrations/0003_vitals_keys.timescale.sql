-- TimescaleDB: a unique index on a hypertable must contain the partitioning column, so the
-- key is (device_id, ts, seq). A redelivered sample carries the same ts and seq, so it is
-- still stored once; see docs/storage.md ("Idempotency on a hypertable").
-- Chunk interval: 1 day (justified in docs/storage.md); settings.chunk_interval_hours
-- re-applies it on every migrate run via set_chunk_time_interval.
SELECT create_hypertable('vitals', 'ts', chunk_time_interval => INTERVAL '1 day',
                         create_default_indexes => false, if_not_exists => true);
-- Leading (device_id, ts) also serves every per-device range query: the one index the
-- hypertable needs (time-only ranges use chunk exclusion; retention drops whole chunks),
-- so each insert maintains one btree, not three as on plain PostgreSQL.
CREATE UNIQUE INDEX IF NOT EXISTS vitals_device_ts_seq ON vitals (device_id, ts, seq);
-- Compression: one segment per device, rows ordered by time, as queries read them.
ALTER TABLE vitals SET (timescaledb.compress,
                        timescaledb.compress_segmentby = 'device_id',
                        timescaledb.compress_orderby = 'ts DESC, seq');
