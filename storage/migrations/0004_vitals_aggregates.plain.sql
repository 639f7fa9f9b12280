-- Plain PostgreSQL: the same relation names as the TimescaleDB continuous aggregates, as
-- ordinary views over `vitals` (for people and dashboards; storage.queries reads raw
-- rows with ts bounds, which is faster than filtering these views).
CREATE OR REPLACE VIEW vitals_1m AS
SELECT device_id,
       date_bin(INTERVAL '1 minute', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       min(hr) AS hr_min, max(hr) AS hr_max, avg(hr) AS hr_avg, sum(hr) AS hr_sum, count(hr) AS hr_count,
       min(spo2) AS spo2_min, max(spo2) AS spo2_max, avg(spo2) AS spo2_avg, sum(spo2) AS spo2_sum, count(spo2) AS spo2_count,
       min(rr) AS rr_min, max(rr) AS rr_max, avg(rr) AS rr_avg, sum(rr) AS rr_sum, count(rr) AS rr_count,
       min(temp) AS temp_min, max(temp) AS temp_max, avg(temp) AS temp_avg, sum(temp) AS temp_sum, count(temp) AS temp_count,
       min(sbp) AS sbp_min, max(sbp) AS sbp_max, avg(sbp) AS sbp_avg, sum(sbp) AS sbp_sum, count(sbp) AS sbp_count,
       min(dbp) AS dbp_min, max(dbp) AS dbp_max, avg(dbp) AS dbp_avg, sum(dbp) AS dbp_sum, count(dbp) AS dbp_count,
       min(activity) AS activity_min, max(activity) AS activity_max, avg(activity) AS activity_avg,
       sum(activity) AS activity_sum, count(activity) AS activity_count,
       count(*) AS n
FROM vitals
GROUP BY 1, 2;

CREATE OR REPLACE VIEW vitals_1h AS
SELECT device_id,
       date_bin(INTERVAL '1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       min(hr) AS hr_min, max(hr) AS hr_max, avg(hr) AS hr_avg, sum(hr) AS hr_sum, count(hr) AS hr_count,
       min(spo2) AS spo2_min, max(spo2) AS spo2_max, avg(spo2) AS spo2_avg, sum(spo2) AS spo2_sum, count(spo2) AS spo2_count,
       min(rr) AS rr_min, max(rr) AS rr_max, avg(rr) AS rr_avg, sum(rr) AS rr_sum, count(rr) AS rr_count,
       min(temp) AS temp_min, max(temp) AS temp_max, avg(temp) AS temp_avg, sum(temp) AS temp_sum, count(temp) AS temp_count,
       min(sbp) AS sbp_min, max(sbp) AS sbp_max, avg(sbp) AS sbp_avg, sum(sbp) AS sbp_sum, count(sbp) AS sbp_count,
       min(dbp) AS dbp_min, max(dbp) AS dbp_max, avg(dbp) AS dbp_avg, sum(dbp) AS dbp_sum, count(dbp) AS dbp_count,
       min(activity) AS activity_min, max(activity) AS activity_max, avg(activity) AS activity_avg,
       sum(activity) AS activity_sum, count(activity) AS activity_count,
       count(*) AS n
FROM vitals
GROUP BY 1, 2;
