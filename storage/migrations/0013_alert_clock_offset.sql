-- How far the wall clock is ahead of a device's clock (its candidates' ts_ms), as the alert
-- engine saw it at the device's latest candidate: wall ms - candidate ts_ms (clock skew plus
-- pipeline delay). The policy's timers are in device time; the tick runs a device's timers
-- at wall_now - clock_offset_ms, and next_due_ms is stored on the wall clock (device due +
-- offset) so the tick's index scan stays one comparison. NULL: not measured yet (0).
ALTER TABLE alert_policy_state ADD COLUMN IF NOT EXISTS clock_offset_ms bigint;
