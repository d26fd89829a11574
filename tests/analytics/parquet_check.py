"""The Parquet exports of a real history, read with DuckDB, have the read models' answers.

Usage: python parquet_check.py PATH/TO/readnet

Starts `readnet serve` on a temporary data directory and a free port, plays the demo story
through it (`readnet demo`), and asks the statistics and settlement services (through
`readnet stats … --json`, `readnet monitor --once --json` and `readnet statement … --json`) for
the network's, each city's and each library's days over the last year, the flows and top titles
of each month, the holds of each city and the statement of each month; meanwhile
`readnet export-hourly --until-caught-up` writes the hourly partitions. Stops the server, exports
the events with `readnet export events --format parquet --for-analyst analyst` and the projection
tables with `readnet export tables`, and checks with DuckDB that the files hold the same figures:
loans and returns per library, city and network day, flows, top titles, holds, statement lines
and nets (which sum to zero), charges summing to their lines; that the timestamp columns are
timestamps and the days dates; and that the events hold no patron id of the plain JSON Lines
export (the analyst's pseudonyms only). Prints "N passed, 0 failed" at the end and exits
non-zero on the first failure.

Timestamps are compared as epoch microseconds in SQL: fetching a TIMESTAMPTZ into Python needs
pytz, which the pinned requirements do not install.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

import duckdb

CHECKS: list[str] = []


def check(name: str, condition: bool, detail: object = "") -> None:
    if not condition:
        print(f"FAILED: {name} {detail}", flush=True)
        sys.exit(1)
    CHECKS.append(name)
    print(f"ok: {name}", flush=True)


def run(readnet: str, *args: str) -> str:
    result = subprocess.run([readnet, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"readnet {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def main() -> None:
    readnet = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="readnet-parquet-") as work:
        data = os.path.join(work, "data")
        server = subprocess.Popen(
            [readnet, "serve", "--data", data, "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            url = None
            assert server.stdout is not None
            for line in server.stdout:
                if line.startswith("readnet listening on "):
                    url = "http://" + line.split()[-1]
                    break
            if url is None:
                raise SystemExit("readnet serve did not say where it listens")
            # The first administrator's token is written just after the listening line.
            token = os.path.join(data, "admin.token")
            for _ in range(100):
                if os.path.exists(token):
                    break
                time.sleep(0.1)
            run(readnet, "demo", "--server", url, "--data", data)
            head = json.loads(run(readnet, "read-all", "--backwards", "--max-count", "1",
                                  "--server", url, "--data", data, "--json"))["head_position"]
            # The network's days over the last year (the longest range a query takes), as the
            # statistics service counts them once it has read the whole log.
            today = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).date()
            first = today - datetime.timedelta(days=365)
            common = ["--min-position", str(head), "--server", url, "--data", data, "--json"]
            network = json.loads(run(readnet, "stats", "network-days", "--from", first.isoformat(),
                                     "--to", today.isoformat(), *common))
            loans = sum(day["loans"] for day in network["days"])
            returns = sum(day["returns"] for day in network["days"])
            monitor = json.loads(run(readnet, "monitor", "--once", *common))
            span = ["--from", first.isoformat(), "--to", today.isoformat()]
            per_library = {}
            library_days = {}
            for library in monitor["libraries"]:
                days = json.loads(run(readnet, "stats", "library-days", library["library"],
                                      *span, *common))
                per_library[library["library"]] = sum(day["loans"] for day in days["days"])
                for day in days["days"]:
                    library_days[(library["library"], day["day"])] = (day["loans"], day["returns"])
            cities = sorted({library["city"] for library in monitor["libraries"]})
            city_days = {}
            holds = {}
            for city in cities:
                days = json.loads(run(readnet, "stats", "city-days", city, *span, *common))
                for day in days["days"]:
                    city_days[(city, day["day"])] = (day["loans"], day["active_patrons"])
                answer = json.loads(run(readnet, "stats", "holds", "--city", city, *span, *common))
                holds[city] = (answer["placed"], answer["filled"], answer["cancelled"])
            months = sorted({day["day"][:7] for day in network["days"]})
            flows = {}
            top_titles = {}
            statements = {}
            for month in months:
                answer = json.loads(run(readnet, "stats", "flows", month, *common))
                flows[month] = sorted((c["owner_city"], c["return_city"], c["returns"])
                                      for c in answer["cells"])
                for city in cities:
                    answer = json.loads(run(readnet, "stats", "top-titles", city, month,
                                            "--limit", "100", *common))
                    top_titles[(city, month)] = [(t["rank"], t["title_key"], t["loans"])
                                                 for t in answer["titles"]]
                statements[month] = json.loads(run(readnet, "statement", month, *common))
            # The hourly partitions, written from the server's subscription.
            dataset = os.path.join(work, "dataset")
            run(readnet, "export-hourly", "--until-caught-up", "--out", dataset,
                "--server", url, "--data", data)
        finally:
            server.terminate()
            server.wait(timeout=30)
        check("the demo lent books", loans > 0, loans)

        parquet = os.path.join(work, "events.parquet")
        run(readnet, "export", "events", "--data", data, "--format", "parquet", "--out", parquet,
            "--for-analyst", "analyst")
        plain = os.path.join(work, "events.jsonl")
        run(readnet, "export", "events", "--data", data, "--out", plain)
        with open(plain) as f:
            exported = [json.loads(line) for line in f]

        db = duckdb.connect()
        rows = db.execute("select count(*) from read_parquet(?)", [parquet]).fetchone()[0]
        check("a row per exported event", rows == len(exported), (rows, len(exported)))
        columns = {row[0] for row in db.execute(
            "select column_name from (describe select * from read_parquet(?))", [parquet]
        ).fetchall()}
        check("the envelope and payload fields are columns",
              {"position", "event_type", "occurred_at", "data.item", "data.library",
               "data.patron_id"} <= columns, sorted(columns))
        counted = dict(db.execute(
            "select event_type, count(*) from read_parquet(?) "
            "where event_type in ('ItemLoaned', 'ItemReturned') group by event_type",
            [parquet],
        ).fetchall())
        check("loans: the statistics service's total", counted.get("ItemLoaned", 0) == loans,
              (counted, loans))
        check("returns: the statistics service's total", counted.get("ItemReturned", 0) == returns,
              (counted, returns))
        by_library = dict(db.execute(
            'select "data.library", count(*) from read_parquet(?) '
            "where event_type = 'ItemLoaned' group by 1",
            [parquet],
        ).fetchall())
        check("loans per library: the statistics service's",
              {k: v for k, v in per_library.items() if v} == by_library,
              (per_library, by_library))
        positions = db.execute(
            "select min(position), max(position), count(distinct position) from read_parquet(?)",
            [parquet],
        ).fetchone()
        check("positions are int64 and each event's own", positions[2] == rows, positions)
        pseudonyms = {row[0] for row in db.execute(
            'select distinct "data.patron_id" from read_parquet(?) where "data.patron_id" is not null',
            [parquet],
        ).fetchall()}
        patron_ids = {e["data"].get("patron_id") for e in exported
                      if isinstance(e.get("data"), dict) and e["data"].get("patron_id")}
        check("patron ids are pseudonymised for the analyst",
              pseudonyms and patron_ids and not (pseudonyms & patron_ids),
              (len(pseudonyms), len(patron_ids)))

        # Timestamps are TIMESTAMP(MICROS, UTC): DuckDB reads them as TIMESTAMP WITH TIME ZONE.
        types = column_types(db, parquet)
        check("the events' timestamps are timestamps",
              types["occurred_at"] == types["recorded_at"] == "TIMESTAMP WITH TIME ZONE", types)
        hourly = os.path.join(dataset, "**", "*.parquet")
        hourly_rows, hourly_types = db.execute(
            "select count(*), any_value(typeof(recorded_at)) from read_parquet(?, "
            "union_by_name = true, hive_partitioning = true)", [hourly]).fetchone()
        check("the hourly partitions hold every event", hourly_rows == rows, (hourly_rows, rows))
        check("the hourly partitions' timestamps are timestamps",
              hourly_types == "TIMESTAMP WITH TIME ZONE", hourly_types)
        same_hour = db.execute(
            "select count(*) from read_parquet(?, union_by_name = true, hive_partitioning = true) "
            "where strftime(recorded_at at time zone 'UTC', '%Y-%m-%d') <> cast(date as varchar) "
            "or hour(recorded_at at time zone 'UTC') <> cast(hour as integer)", [hourly]
        ).fetchone()[0]
        check("each event is in its recorded hour's partition", same_hour == 0, same_hour)

        check_tables(readnet, data, work, db, library_days, city_days, network, holds, flows,
                     top_titles, statements)
    print(f"{len(CHECKS)} passed, 0 failed")


def column_types(db: duckdb.DuckDBPyConnection, path: str) -> dict[str, str]:
    return {row[0]: row[1] for row in db.execute(
        "select column_name, column_type from (describe select * from read_parquet(?))", [path]
    ).fetchall()}


def check_tables(readnet: str, data: str, work: str, db: duckdb.DuckDBPyConnection,
                 library_days: dict, city_days: dict, network: dict, holds: dict, flows: dict,
                 top_titles: dict, statements: dict) -> None:
    """`readnet export tables`, each file against the services' answers."""
    out = os.path.join(work, "tables")
    run(readnet, "export", "tables", "--data", data, "--out", out)

    def table(name: str) -> str:
        return os.path.join(out, name + ".parquet")

    names = ["library_days", "city_days", "network_days", "flows", "top_titles", "hold_days",
             "charges", "statement_lines", "statement_nets"]
    check("a file per table", all(os.path.exists(table(n)) for n in names),
          sorted(os.listdir(out)))
    check("no partial file is left", not [n for n in os.listdir(out) if n.startswith(".")],
          os.listdir(out))
    for name in names:
        types = column_types(db, table(name))
        check(f"{name}: no patron id", not any("patron_id" in c for c in types), sorted(types))
        for column, kind in types.items():
            if column in ("day", "month_start"):
                check(f"{name}.{column} is a date", kind == "DATE", kind)
            if column == "occurred_at":
                check(f"{name}.{column} is a timestamp", kind == "TIMESTAMP WITH TIME ZONE", kind)
            if column.endswith("_fen") or column in ("loans", "returns", "count", "position"):
                check(f"{name}.{column} is int64", kind == "BIGINT", kind)

    rows = db.execute(
        "select library, strftime(day, '%Y-%m-%d'), loans, returns from read_parquet(?) "
        "where counted_by = 'transaction_library' and (loans > 0 or returns > 0)", [table("library_days")]
    ).fetchall()
    parquet_days = {(lib, day): (loans, returns) for lib, day, loans, returns in rows}
    json_days = {k: v for k, v in library_days.items() if v != (0, 0)}
    check("library days: loans and returns per library and day are the service's",
          parquet_days == json_days and json_days, (parquet_days, json_days))

    rows = db.execute(
        "select city, strftime(day, '%Y-%m-%d'), loans, active_patrons from read_parquet(?) "
        "where counted_by = 'transaction_library'", [table("city_days")]).fetchall()
    check("city days: loans and active patrons per city and day are the service's",
          {(c, d): (l, p) for c, d, l, p in rows} == city_days and city_days, (rows, city_days))

    rows = db.execute(
        "select strftime(day, '%Y-%m-%d'), loans, returns, overdue_at_day_end from read_parquet(?) "
        "where counted_by = 'transaction_library'", [table("network_days")]).fetchall()
    expected = {d["day"]: (d["loans"], d["returns"], d["overdue_at_day_end"])
                for d in network["days"]}
    check("network days are the service's", {d: v for d, *v in [(r[0], *r[1:]) for r in rows]}
          == {d: list(v) for d, v in expected.items()} and expected, (rows, expected))

    rows = db.execute(
        "select month, owner_city, return_city, returns from read_parquet(?) order by all",
        [table("flows")]).fetchall()
    by_month: dict = {}
    for month, owner, returned, n in rows:
        by_month.setdefault(month, []).append((owner, returned, n))
    check("flows are the service's, month by month",
          {m: c for m, c in flows.items() if c} == by_month and by_month, (by_month, flows))

    rows = db.execute(
        "select city, month, rank, title_key, loans from read_parquet(?) order by city, month, rank",
        [table("top_titles")]).fetchall()
    ranked: dict = {}
    for city, month, rank, key, loans in rows:
        ranked.setdefault((city, month), []).append((rank, key, loans))
    check("top titles are the service's, city by city and month by month",
          {k: v for k, v in top_titles.items() if v} == ranked and ranked, (ranked, top_titles))

    rows = db.execute(
        "select city, sum(placed), sum(filled), sum(cancelled) from read_parquet(?) group by city",
        [table("hold_days")]).fetchall()
    parquet_holds = {c: (int(p), int(f), int(x)) for c, p, f, x in rows}
    check("holds per city are the service's",
          {c: v for c, v in holds.items() if v != (0, 0, 0)} == parquet_holds and parquet_holds,
          (parquet_holds, holds))

    rows = db.execute(
        "select period, debtor, creditor, kind, coalesce(adjustment_of, ''), count, amount_fen "
        "from read_parquet(?) order by all", [table("statement_lines")]).fetchall()
    expected = sorted(
        (s["period"], line["debtor_city"], line["creditor_city"],
         line["kind"].removeprefix("CHARGE_KIND_").lower(), line["adjustment_of"], line["count"],
         line["amount_fen"])
        for s in statements.values() for line in s["lines"])
    check("statement lines are the service's", rows == expected and expected, (rows, expected))

    rows = db.execute(
        "select period, city, net_fen from read_parquet(?) order by all",
        [table("statement_nets")]).fetchall()
    expected = sorted((s["period"], n["city"], n["net_fen"])
                      for s in statements.values() for n in s["nets"])
    check("statement nets are the service's", rows == expected and expected, (rows, expected))
    unbalanced = db.execute(
        "select period, sum(net_fen) from read_parquet(?) group by period having sum(net_fen) <> 0",
        [table("statement_nets")]).fetchall()
    check("each statement's nets sum to zero", not unbalanced, unbalanced)
    digests = dict(db.execute(
        "select distinct period, statement_digest from read_parquet(?)",
        [table("statement_lines")]).fetchall())
    check("each statement's digest is the service's",
          digests == {s["period"]: s["digest"] for s in statements.values() if s["lines"]},
          digests)

    mismatched = db.execute(
        "with charged as (select period, debtor, creditor, kind, "
        "case when adjustment then original_period else '' end as adjustment_of, "
        "count(*) as n, sum(amount_fen) as fen from read_parquet(?) group by all), "
        "lines as (select period, debtor, creditor, kind, coalesce(adjustment_of, '') as "
        "adjustment_of, count as n, amount_fen as fen from read_parquet(?)) "
        "select * from (select * from charged except select * from lines) "
        "union all select * from (select * from lines except select * from charged)",
        [table("charges"), table("statement_lines")]).fetchall()
    check("the charges sum to their statement lines' counts and amounts", not mismatched,
          mismatched)
    charges_total = db.execute("select count(*) from read_parquet(?)",
                               [table("charges")]).fetchone()[0]
    check("the demo made charges", charges_total > 0, charges_total)
    in_period = db.execute(
        "select count(*) from read_parquet(?) where not adjustment and "
        "strftime(occurred_at at time zone 'Asia/Shanghai', '%Y-%m') <> period",
        [table("charges")]).fetchone()[0]
    check("each regular charge occurred in its period (Asia/Shanghai)", in_period == 0, in_period)


if __name__ == "__main__":
    main()
