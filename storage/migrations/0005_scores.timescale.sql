-- Scores arrive once per window per detector (far fewer rows than vitals): 7-day chunks.
SELECT create_hypertable('scores', 'window_end', chunk_time_interval => INTERVAL '7 days',
                         if_not_exists => true);
