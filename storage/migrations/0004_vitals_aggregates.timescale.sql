-- vitalstream: no-transaction
-- TimescaleDB continuous aggregates per device: 1 minute and 1 hour, min/max/avg/sum/count
-- per metric. CREATE MATERIALIZED VIEW ... WITH (timescaledb.continuous) cannot run inside
-- a transaction block, hence the header above: each statement runs on its own (autocommit).
-- materialized_only = false (real-time aggregation): a query reads the materialized
-- buckets up to the watermark and aggregates raw rows after it, so recent data is always
-- included. Refresh/retention policies come from settings (storage/timescale.py).
-- Both are built directly on `vitals` (not 1h on 1m) so they need only TimescaleDB 2.x.

CREATE MATERIALIZED VIEW IF NOT EXISTS vitals_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT device_id,
       time_bucket(INTERVAL '1 minute', ts) AS bucket,
       min(hr) AS hr_min, max(hr) AS hr_max, avg(hr) AS hr_avg, sum(hr) AS hr_sum, count(hr) AS hr_count,
       min(spo2) AS spo2_min, max(spo2) AS spo2_max, avg(spo2) AS spo2_avg, sum(spo2) AS spo2_sum, count(spo2) AS spo2_count,
       min(rr) AS rr_min, max(rr) AS rr_max, avg(rr) AS rr_avg, sum(rr) AS rr_sum, count(rr) AS rr_count,
       min(temp) AS temp_min, max(temp) AS temp_max, avg(temp) AS temp_avg, sum(temp) AS temp_sum, count(temp) AS temp_count,
       min(sbp) AS sbp_min, max(sbp) AS sbp_max, avg(sbp) AS sbp_avg, sum(sbp) AS sbp_sum, count(sbp) AS sbp_count,
       min(dbp) AS dbp_min, max(dbp) AS dbp_max, avg(dbp) AS dbp_avg, sum(dbp) AS dbp_sum, count(dbp) AS dbp_count,
       min(activity) AS activity_min, max(activity) AS activity_max, avg(activity) AS activity_avg, sum(activity) AS activity_sum, count(activity) AS activity_count,
       count(*) AS n
FROM vitals
GROUP BY device_id, time_bucket(INTERVAL '1 minute', ts)
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS vitals_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT device_id,
       time_bucket(INTERVAL '1 hour', ts) AS bucket,
       min(hr) AS hr_min, max(hr) AS hr_max, avg(hr) AS hr_avg, sum(hr) AS hr_sum, count(hr) AS hr_count,
       min(spo2) AS spo2_min, max(spo2) AS spo2_max, avg(spo2) AS spo2_avg, sum(spo2) AS spo2_sum, count(spo2) AS spo2_count,
       min(rr) AS rr_min, max(rr) AS rr_max, avg(rr) AS rr_avg, sum(rr) AS rr_sum, count(rr) AS rr_count,
       min(temp) AS temp_min, max(temp) AS temp_max, avg(temp) AS temp_avg, sum(temp) AS temp_sum, count(temp) AS temp_count,
       min(sbp) AS sbp_min, max(sbp) AS sbp_max, avg(sbp) AS sbp_avg, sum(sbp) AS sbp_sum, count(sbp) AS sbp_count,
       min(dbp) AS dbp_min, max(dbp) AS dbp_max, avg(dbp) AS dbp_avg, sum(dbp) AS dbp_sum, count(dbp) AS dbp_count,
       min(activity) AS activity_min, max(activity) AS activity_max, avg(activity) AS activity_avg, sum(activity) AS activity_sum, count(activity) AS activity_count,
       count(*) AS n
FROM vitals
GROUP BY device_id, time_bucket(INTERVAL '1 hour', ts)
WITH NO DATA;
