CREATE INDEX IF NOT EXISTS scores_window_end_brin ON scores USING brin (window_end);
