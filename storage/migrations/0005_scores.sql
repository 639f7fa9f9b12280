-- Detector scores: one row per device, window end and detector.
CREATE TABLE IF NOT EXISTS scores (
    device_id     text NOT NULL,
    window_end    timestamptz NOT NULL,
    detector      text NOT NULL,             -- e.g. "lstm", "news2"
    score         double precision NOT NULL,
    threshold     double precision,          -- the threshold in force when scored
    contributions jsonb NOT NULL DEFAULT '{}'::jsonb,  -- per-vital share, e.g. {"spo2": 0.7, "hr": 0.2}
    model_version text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- contains window_end, so it is valid on a hypertable too: the same key on both flavours
    PRIMARY KEY (device_id, window_end, detector)
);
