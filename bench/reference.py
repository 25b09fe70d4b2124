#!/usr/bin/env python3
"""The reference side of bench/run.sh: loads the generator's fact tables into
DuckDB and chDB (in-process ClickHouse), computes the full segment summary
(every block of SPEC section 7, views all and known, the last 30 days) with
the same SQL in both, checks the numbers against segscope's
(`segscope_summary.json`, written by `segscope-bench load`) and prints the
timings with the ratios segscope/DuckDB and segscope/chDB.

Usage: reference.py --data DIR [--engines duckdb,chdb] [--runs N]
Exit status 1 if any engine disagrees with segscope.
"""

import argparse
import json
import os
import statistics
import sys
import time

DAY = 86400
SEGMENTS = ("half", "small")
VIEWS = ("all", "known")

# Journeys and campaigns that `segscope-bench load` creates (name, kind, active, segments).
AUTOMATIONS = [
    ("journey", True, ("half",)),
    ("journey", False, ("half",)),
    ("campaign", True, ("half", "small")),
]

CONTACT_COLUMNS = [
    ("cid", "BIGINT"), ("known", "INTEGER"), ("has_email", "INTEGER"), ("created_at", "BIGINT"),
    ("stage", "VARCHAR"), ("channel", "VARCHAR"), ("source", "VARCHAR"), ("provider", "VARCHAR"),
    ("country", "VARCHAR"), ("region", "VARCHAR"), ("city", "VARCHAR"), ("opted_in", "INTEGER"),
    ("pending", "INTEGER"), ("unsubscribed", "INTEGER"), ("bounced", "INTEGER"), ("complained", "INTEGER"),
    ("last_engaged", "BIGINT"),
]
SESSION_COLUMNS = [("cid", "BIGINT"), ("start", "BIGINT"), ("duration", "BIGINT"), ("page_views", "INTEGER")]
MEMBER_COLUMNS = [("segment", "VARCHAR"), ("cid", "BIGINT")]


class DuckDB:
    name = "duckdb"

    def __init__(self, data):
        import duckdb
        self.version = duckdb.__version__
        self.con = duckdb.connect()

    def load(self, data):
        for table, cols in (("contacts", CONTACT_COLUMNS), ("sessions", SESSION_COLUMNS), ("members", MEMBER_COLUMNS)):
            spec = ", ".join(f"'{c}': '{t}'" for c, t in cols)
            path = os.path.join(data, f"ref_{table}.csv")
            self.con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv('{path}', header=true, columns={{{spec}}})")

    def export_parquet(self, data):
        for table in ("contacts", "sessions", "members"):
            self.con.execute(f"COPY {table} TO '{os.path.join(data, f'ref_{table}.parquet')}' (FORMAT parquet)")

    def rows(self, sql):
        return [tuple(r) for r in self.con.execute(sql).fetchall()]


class ChDB:
    name = "chdb"

    def __init__(self, data):
        import chdb
        from chdb import session
        self.version = chdb.__version__
        path = os.path.join(data, "chdb-session")
        if os.path.exists(path):
            import shutil
            shutil.rmtree(path)
        self.sess = session.Session(path)

    def load(self, data):
        types = {"BIGINT": "Int64", "INTEGER": "UInt8", "VARCHAR": "LowCardinality(Nullable(String))"}
        for table, cols, order in (("contacts", CONTACT_COLUMNS, "cid"), ("sessions", SESSION_COLUMNS, "(cid, start)"), ("members", MEMBER_COLUMNS, "(segment, cid)")):
            special = {"last_engaged": "Nullable(Int64)", "segment": "LowCardinality(String)", "page_views": "UInt32"}
            schema = ", ".join(f"{c} {special.get(c, types[t])}" for c, t in cols)
            path = os.path.join(data, f"ref_{table}.parquet")
            self.sess.query(f"CREATE TABLE {table} ({schema}) ENGINE = MergeTree ORDER BY {order}")
            self.sess.query(f"INSERT INTO {table} SELECT * FROM file('{path}', Parquet)")

    def rows(self, sql):
        out = self.sess.query(sql, "JSONCompact")
        return [tuple(r) for r in json.loads(str(out))["data"]] if str(out).strip() else []


def summary(db, segment, view, meta):
    """Every block, from SQL; returns the canonical form and the elapsed seconds."""
    frm, to, es = meta["range_from"], meta["range_to"], meta["engaged_since"]
    members = f"cid IN (SELECT cid FROM members WHERE segment = '{segment}')"
    where = members + (" AND known = 1" if view == "known" else "")
    started = time.perf_counter()
    (known, anonymous, opted, bounced, unsub, at_start, reach_none, reach_unreach, reach_low, reach_high,
     reach_med, st_unsub, st_compl, st_bounced, st_pending, st_opted, st_noconsent, st_noemail) = db.rows(f"""
        SELECT sum(known), sum(1 - known), sum(opted_in), sum(bounced), sum(unsubscribed),
               sum(CASE WHEN created_at < {frm} THEN 1 ELSE 0 END),
               sum(CASE WHEN has_email = 0 THEN 1 ELSE 0 END),
               sum(CASE WHEN has_email = 1 AND (unsubscribed + complained + bounced) > 0 THEN 1 ELSE 0 END),
               sum(CASE WHEN has_email = 1 AND (unsubscribed + complained + bounced) = 0 AND opted_in = 0 THEN 1 ELSE 0 END),
               sum(CASE WHEN has_email = 1 AND (unsubscribed + complained + bounced) = 0 AND opted_in = 1 AND last_engaged >= {es} THEN 1 ELSE 0 END),
               sum(CASE WHEN has_email = 1 AND (unsubscribed + complained + bounced) = 0 AND opted_in = 1 AND NOT (coalesce(last_engaged, 0) >= {es}) THEN 1 ELSE 0 END),
               sum(CASE WHEN has_email = 1 AND unsubscribed = 1 THEN 1 ELSE 0 END),
               sum(CASE WHEN has_email = 1 AND unsubscribed = 0 AND complained = 1 THEN 1 ELSE 0 END),
               sum(CASE WHEN has_email = 1 AND unsubscribed = 0 AND complained = 0 AND bounced = 1 THEN 1 ELSE 0 END),
               sum(CASE WHEN has_email = 1 AND unsubscribed + complained + bounced = 0 AND pending = 1 THEN 1 ELSE 0 END),
               sum(CASE WHEN has_email = 1 AND unsubscribed + complained + bounced + pending = 0 AND opted_in = 1 THEN 1 ELSE 0 END),
               sum(CASE WHEN has_email = 1 AND unsubscribed + complained + bounced + pending + opted_in = 0 THEN 1 ELSE 0 END),
               sum(CASE WHEN has_email = 0 THEN 1 ELSE 0 END)
        FROM contacts WHERE {where}""")[0]
    dists = {}
    for key, expr in (("stages", "stage"), ("channels", "channel"), ("sources", "source"), ("providers", "provider"), ("countries", "country")):
        dists[key] = db.rows(f"SELECT coalesce({expr}, '(none)') AS k, count(*) FROM contacts WHERE {where} GROUP BY k")
    dists["regions"] = db.rows(f"SELECT coalesce(region, '(none)') AS k, count(*) FROM contacts WHERE {where} AND country = 'US' GROUP BY k")
    dists["cities"] = db.rows(f"SELECT coalesce(city, '(none)') AS k, count(*) FROM contacts WHERE {where} AND country = 'US' GROUP BY k")
    web = db.rows(f"""
        SELECT c.known, count(*), sum(s.duration)
        FROM sessions AS s INNER JOIN (SELECT cid, known FROM contacts WHERE {where}) AS c ON s.cid = c.cid
        WHERE s.start >= {frm} AND s.start < {to} GROUP BY c.known""")
    days = db.rows(f"""
        SELECT intDiv(created_at, {DAY}) AS d, count(*) FROM contacts
        WHERE {where} AND created_at >= {frm} AND created_at < {to} GROUP BY d""" if db.name == "chdb" else f"""
        SELECT created_at // {DAY} AS d, count(*) FROM contacts
        WHERE {where} AND created_at >= {frm} AND created_at < {to} GROUP BY d""")
    elapsed = time.perf_counter() - started

    known, anonymous = int(known or 0), int(anonymous or 0)
    total = known + anonymous
    web = {int(k): (int(n), int(d)) for k, n, d in web}
    sessions = sum(n for n, _ in web.values())
    duration = sum(d for _, d in web.values())
    ratio = lambda a, b: None if b == 0 else round(a / b * 1e6) / 1e6
    added = {int(d): int(n) for d, n in days}
    growth, running = [], int(at_start or 0)
    import datetime
    for day in range(frm // DAY, to // DAY):
        running += added.get(day, 0)
        date = datetime.date(1970, 1, 1) + datetime.timedelta(days=day)
        growth.append([date.isoformat(), added.get(day, 0), 0, added.get(day, 0), running])
    group = lambda flag, members: {
        "members": members,
        "sessions": web.get(flag, (0, 0))[0],
        "sessions_per_member": ratio(web.get(flag, (0, 0))[0], members),
        "avg_session_secs": ratio(web.get(flag, (0, 0))[1], web.get(flag, (0, 0))[0]),
    }
    autos = [a for a in AUTOMATIONS if segment in a[2]]
    nz = lambda pairs: {str(k): int(v) for k, v in pairs if int(v or 0) > 0}
    result = {
        "overall": {"known": known, "anonymous": anonymous, "total": total, "sessions": sessions,
                    "avg_session_secs": ratio(duration, sessions)},
        "growth": growth,
        "associated": {
            "journeys": sum(1 for a in autos if a[0] == "journey"),
            "journeys_active": sum(1 for a in autos if a[0] == "journey" and a[1]),
            "campaigns": sum(1 for a in autos if a[0] == "campaign"),
            "campaigns_active": sum(1 for a in autos if a[0] == "campaign" and a[1]),
            "opted_in": int(opted or 0), "bounced": int(bounced or 0), "unsubscribed": int(unsub or 0),
        },
        "reachability": nz([("high", reach_high), ("medium", reach_med), ("low", reach_low),
                            ("unreachable", reach_unreach), ("none", reach_none)]),
        "subscription": nz([("unsubscribed", st_unsub), ("complained", st_compl), ("bounced", st_bounced),
                            ("pending", st_pending), ("opted_in", st_opted), ("no_consent", st_noconsent),
                            ("no_email", st_noemail)]),
        "website": {"known": group(1, known), "anonymous": group(0, anonymous)},
    }
    for key, rows in dists.items():
        result[key] = nz(rows)
    return result, elapsed


def diff(a, b, path=""):
    """Human-readable differences between two canonical summaries."""
    out = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}/{k}: segscope={a.get(k)!r} reference={b.get(k)!r}")
            else:
                out += diff(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff(x, y, f"{path}[{i}]")
    elif a != b:
        out.append(f"{path}: segscope={a!r} reference={b!r}")
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--engines", default="duckdb,chdb")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    meta = json.load(open(os.path.join(args.data, "meta.json")))
    now = meta["now"]
    today = now // DAY * DAY  # UTC, the workspace's zone
    meta["range_from"], meta["range_to"] = today - 29 * DAY, today + DAY
    meta["engaged_since"] = today - 89 * DAY
    segscope = json.load(open(os.path.join(args.data, "segscope_summary.json")))
    load = json.load(open(os.path.join(args.data, "segscope_load.json")))
    measure_path = os.path.join(args.data, "segscope_measure.json")
    measure = json.load(open(measure_path)) if os.path.exists(measure_path) else {}

    engines = [e for e in args.engines.split(",") if e]
    results, mismatches = {}, 0
    duck = None
    for name in engines:
        db = DuckDB(args.data) if name == "duckdb" else ChDB(args.data)
        if name == "chdb" and duck is None:
            # chDB reads the Parquet files that DuckDB writes from the CSV facts.
            exporter = DuckDB(args.data)
            exporter.load(args.data)
            exporter.export_parquet(args.data)
            del exporter
        started = time.perf_counter()
        db.load(args.data)
        load_secs = time.perf_counter() - started
        if name == "duckdb":
            duck = db
            db.export_parquet(args.data)
        print(f"{name} {db.version}: loaded in {load_secs:.2f} s")
        results[name] = {"version": db.version, "load_secs": load_secs, "summary": {}}
        for segment in SEGMENTS:
            for view in VIEWS:
                key = f"{segment}/{view}"
                canon, _ = summary(db, segment, view, meta)
                problems = diff(segscope[key], canon)
                if problems:
                    mismatches += len(problems)
                    print(f"MISMATCH {name} {key}: {len(problems)} differences")
                    for p in problems[:20]:
                        print(f"  {p}")
                times = [summary(db, segment, view, meta)[1] for _ in range(args.runs)]
                results[name]["summary"][key] = statistics.median(times) * 1e3
        del db

    print()
    print(f"{'summary':<14}{'members':>10}{'segscope ms':>13}" + "".join(f"{e + ' ms':>13}{'ratio':>9}" for e in engines))
    engine_ms = measure.get("summary_engine", {})
    for segment in SEGMENTS:
        for view in VIEWS:
            key = f"{segment}/{view}"
            ours = engine_ms.get(key, load["summary_store"][key])["median_ms"]
            members = load["summary_store"][key]["members"]
            line = f"{key:<14}{members:>10}{ours:>13.3f}"
            for e in engines:
                theirs = results[e]["summary"][key]
                line += f"{theirs:>13.2f}{ours / theirs:>9.3f}"
            print(line)
    print("(ratio = segscope time / reference time: below 1 segscope is faster; 0.1 is 10x faster)")
    results["mismatches"] = mismatches
    json.dump(results, open(os.path.join(args.data, "reference.json"), "w"), indent=2)
    if mismatches:
        print(f"{mismatches} differences between segscope and the references", file=sys.stderr)
        return 1
    print("segscope, " + " and ".join(engines) + " agree on every number of every block")
    return 0


if __name__ == "__main__":
    sys.exit(main())
