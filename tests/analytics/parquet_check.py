"""The Parquet export of a real history, read with DuckDB, has the statistics service's totals.

Usage: python parquet_check.py PATH/TO/readnet

Starts `readnet serve` on a temporary data directory and a free port, plays the demo story
through it (`readnet demo`), and asks the statistics service (through `readnet stats … --json`
and `readnet monitor --once --json`) for the network's loans and returns over the last year and
each library's loans. Stops the server, exports the events with
`readnet export events --format parquet --for-analyst analyst`, and checks with DuckDB that the
file holds the same totals, and that it holds no patron id of the plain JSON Lines export (the
analyst's pseudonyms only). Prints "N passed, 0 failed" at the end and exits non-zero on the
first failure.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile

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
            per_library = {}
            for library in monitor["libraries"]:
                days = json.loads(run(readnet, "stats", "library-days", library["library"],
                                      "--from", first.isoformat(), "--to", today.isoformat(),
                                      *common))
                per_library[library["library"]] = sum(day["loans"] for day in days["days"])
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
    print(f"{len(CHECKS)} passed, 0 failed")


if __name__ == "__main__":
    main()
