-- One row per accepted sample (INTERFACE §3). Uniqueness/indexes differ per flavour: 0003.
CREATE TABLE IF NOT EXISTS vitals (
    device_id   text NOT NULL,
    ts          timestamptz NOT NULL,
    seq         bigint NOT NULL CHECK (seq >= 0),
    hr          double precision,
    spo2        double precision,
    rr          double precision,
    temp        double precision,
    sbp         double precision,
    dbp         double precision,
    activity    double precision,
    received_at timestamptz NOT NULL DEFAULT now()
);
