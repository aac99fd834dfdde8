#!/usr/bin/env python3
"""Turns bench-compare.sh's results.jsonl into a Markdown table: per figure the median over the
runs for each server, and the ratio Starling / best other (best = the better rival for that
figure: lowest for costs and latencies, highest for rates)."""
import argparse
import json
import statistics
from collections import defaultdict

# (label, key, description, higher is better)
ROWS = [
    ("idle", "connections_per_second", "idle: TLS logins/s while 10k arrive", True),
    ("idle", "memory_per_connection_kib", "idle: server memory per authenticated TLS connection (KiB)", False),
    ("idle", "server_rss_kib", "idle: server RSS with all connected (MiB)", False),
    ("chat-peak", "delivered_per_second", "chat flat out: messages delivered/s", True),
    ("chat-peak", "server_cpu_seconds_per_1000", "chat flat out: server CPU s per 1,000 messages", False),
    ("chat-half", "target_rate", "chat paced: offered messages/s (half Starling's peak)", None),
    ("chat-half", "delivered_per_second", "chat paced: messages delivered/s", True),
    ("chat-half", "latency_p50_ms", "chat paced: latency p50 (ms)", False),
    ("chat-half", "latency_p90_ms", "chat paced: latency p90 (ms)", False),
    ("chat-half", "latency_p99_ms", "chat paced: latency p99 (ms)", False),
    ("chat-half", "latency_max_ms", "chat paced: latency max (ms)", False),
    ("churn-peak", "logins_per_second", "churn flat out: logins/s (login+bind+presence+logout)", True),
    ("churn-peak", "server_cpu_ms_per_login", "churn flat out: server CPU ms per login", False),
    ("churn-paced", "logins_per_second", "churn paced: logins/s achieved", True),
    ("churn-paced", "login_latency_p99_ms", "churn paced: login latency p99 (ms)", False),
    ("presence", "delivered_per_second", "presence: broadcasts delivered/s", True),
    ("presence", "latency_p99_ms", "presence: latency p99 (ms)", False),
    ("presence", "server_cpu_seconds_per_1000", "presence: server CPU s per 1,000 broadcasts", False),
    ("muc", "occupants", "MUC groupchat: occupants in the room", None),
    ("muc", "delivered_per_second", "MUC groupchat flat out: deliveries/s (messages received by occupants)", True),
    ("muc", "server_cpu_seconds_per_1000", "MUC groupchat flat out: server CPU s per 1,000 deliveries", False),
    ("muc-join", "occupants", "MUC join: occupants in the room before the measured joins", None),
    ("muc-join", "fill_seconds", "MUC join: seconds to fill the room (paced, at most 200 joins/s)", False),
    ("muc-join", "join_ms_p50", "MUC join: join presence to self-presence, median (ms)", False),
    ("muc-join", "join_ms_max", "MUC join: join presence to self-presence, slowest (ms)", False),
    ("muc-join", "presences_before_self", "MUC join: occupant presences received before the self-presence", None),
    ("muc-join", "server_cpu_ms_per_join", "MUC join: server CPU ms up to the self-presence, median", False),
]
LABELS = ["idle", "chat-peak", "chat-half", "churn-peak", "churn-paced", "presence", "muc", "muc-join"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("--setting", default="")
    args = parser.parse_args()
    values = defaultdict(list)  # (label, key, server) -> [value]
    servers = []
    runs = set()
    with open(args.results) as lines:
        for line in lines:
            record = json.loads(line)
            server, label, result = record["server"], record["label"], record["result"]
            runs.add(record["run"])
            if server not in servers:
                servers.append(server)
            for key, value in result.items():
                if isinstance(value, (int, float)):
                    values[(label, key, server)].append(float(value))
            seconds = result.get("seconds") or 0
            if seconds:
                values[(label, "generator_cpu_share", server)].append(result.get("generator_cpu_seconds", 0) / seconds)
                values[(label, "server_cpu_share", server)].append(result.get("server_cpu_seconds", 0) / seconds)
    rivals = [s for s in servers if s != "starling"]

    def median(label, key, server):
        found = values.get((label, key, server))
        if not found:
            return None
        value = statistics.median(found)
        return value / 1024 if key == "server_rss_kib" else value

    def cell(value):
        if value is None:
            return "—"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"

    print(f"Settings: {args.setting}  ")
    print(f"Medians of {len(runs)} run(s); ratio = Starling / best of {', '.join(rivals) or 'none'}.\n")
    print("| figure | " + " | ".join(servers) + " | ratio |")
    print("|---|" + "---|" * (len(servers) + 1))
    present = {label for (label, _, _) in values}
    for label, key, description, higher in ROWS:
        if label not in present:
            continue
        medians = {s: median(label, key, s) for s in servers}
        ratio = "—"
        others = [medians[s] for s in rivals if medians[s] is not None]
        if higher is not None and medians.get("starling") is not None and others:
            best = max(others) if higher else min(others)
            if best:
                value = medians["starling"] / best
                ratio = f"{value:.2f}×" if value >= 0.01 else f"{value:.1e}×"
        print(f"| {description} | " + " | ".join(cell(medians[s]) for s in servers) + f" | {ratio} |")
    print("\nCPU share of one core during each measured window (server / generator) and errors:\n")
    print("| scenario | " + " | ".join(servers) + " |")
    print("|---|" + "---|" * len(servers))
    for label in LABELS:
        if label not in present:
            continue
        cells = []
        for server in servers:
            s, g, e = median(label, "server_cpu_share", server), median(label, "generator_cpu_share", server), median(label, "errors", server)
            if s is None:  # muc-join has no single measured window
                cells.append("—" if e is None else f"errors {e:.0f}")
            else:
                cells.append(f"{s:.2f} / {g:.2f}, errors {e:.0f}")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
