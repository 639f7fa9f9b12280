"""Reporting for the end-to-end benchmark: the summary table and the PNG."""

from __future__ import annotations

from pathlib import Path


def fmt_ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.0f} ms"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["timeline"]
    t = [r["t"] for r in rows]
    fig, ax = plt.subplots(4, 1, figsize=(11, 11), sharex=True)
    ax[0].step(t, [r["target"] for r in rows], where="post", label="target (fleet)", color="grey")
    rate_t, rate_v = [], []
    for a, b in zip(rows, rows[1:], strict=False):
        if a["stored"] is not None and b["stored"] is not None and b["t"] > a["t"]:
            rate_t.append(b["t"])
            rate_v.append((b["stored"] - a["stored"]) / (b["t"] - a["t"]))
    ax[0].plot(rate_t, rate_v, label="stored (worker)", color="tab:blue")
    ax[0].set_ylabel("samples/s")
    ax[0].legend(loc="upper left")
    seen = result["seen"]
    ax[1].scatter([s[0] for s in seen], [s[1] for s in seen], s=3, alpha=0.4, label="traced samples")
    ax[1].axhline(2.0, color="red", linestyle="--", linewidth=1, label="target p99 2 s")
    ax[1].set_ylabel("publish → stored (s)")
    ax[1].set_yscale("log")
    ax[1].legend(loc="upper left")
    ax[2].plot(t, [r["lag"] or 0 for r in rows], color="tab:orange")
    ax[2].set_ylabel("worker consumer lag\n(records)")
    names = sorted({k for r in rows for k in r["proc"] if k != "t"})
    for name in names:
        ax[3].plot(t, [r["proc"].get(name, {}).get("cpu", 0) for r in rows], label=name, linewidth=1)
    ax[3].set_ylabel("CPU (% of a core)")
    ax[3].set_xlabel("seconds since start")
    ax[3].legend(loc="upper left", fontsize=7, ncol=4)
    best = result["highest_sustained_samples_per_s"]
    speed = f", CPU speed {result['cpu_speed_ms']} ms" if result.get("cpu_speed_ms") else ""
    fig.suptitle(f"vitalstream end to end on {result['machine']}{speed}: highest sustained {best or 0:,.0f} samples/s")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def print_summary(result: dict) -> None:
    speed = result.get("cpu_speed_ms")
    print(f"\nend to end on {result['machine']} (load average at start {result['load_avg_start'][0]:.1f}"
          + (f", CPU speed {speed} ms" if speed else "") + ")")
    print(f"{'target/s':>9} {'published':>10} {'in time':>10} {'lost':>7} {'pub/s':>7} {'p50':>7} {'p95':>7} "
          f"{'p99':>7} {'lag max':>8} {'onset→hook p50/p99':>20}  sustained")
    for s in result["steps"]:
        lat = s["publish_to_stored_s"]
        hook = s.get("onset_to_webhook_s") or {}
        hook_txt = "-" if not hook.get("n") else f"{hook['p50']:.1f}/{hook['p99']:.1f} s"
        print(f"{s['target_samples_per_s']:9,.0f} {s['published']:10,} {s['stored']:10,} {s.get('lost', '?'):>7} "
              f"{s['achieved_publish_samples_per_s']:7,.0f} {fmt_ms(lat['p50']):>7} {fmt_ms(lat['p95']):>7} "
              f"{fmt_ms(lat['p99']):>7} {s['lag_max'] if s['lag_max'] is not None else '-':>8} {hook_txt:>20}  "
              f"{'yes' if s['sustained'] else 'NO'}")
    if any("lstm_scores" in s for s in result["steps"]):
        per_step = ", ".join(f"{s['target_samples_per_s']:,.0f}/s: {s.get('lstm_scores', 0):,} "
                             f"({s.get('lstm_scored_devices', 0):,} devices)" for s in result["steps"])
        note = "" if result.get("aged_states") else " (fresh states: the LSTM needs an hour)"
        print(f"LSTM scorings stored per step: {per_step}{note}")
    best = result["highest_sustained_samples_per_s"]
    print(f"highest sustained without loss or growing lag: {f'{best:,.0f} samples/s' if best else 'none'}"
          f"; with p99 publish→stored ≤ 2 s: {result['highest_meeting_p99_2s'] or 'none'}")
