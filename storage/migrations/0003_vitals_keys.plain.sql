-- Plain PostgreSQL: (device_id, seq) is the unique key, as INTERFACE §3 states.
ALTER TABLE vitals ADD CONSTRAINT vitals_device_seq_key UNIQUE (device_id, seq);
-- Per-device time ranges (raw range, date_bin aggregates, latest sample).
CREATE INDEX IF NOT EXISTS vitals_device_ts ON vitals (device_id, ts);
-- Retention deletes by time over the whole table; BRIN is tiny and fits append-mostly ts.
CREATE INDEX IF NOT EXISTS vitals_ts_brin ON vitals USING brin (ts);
