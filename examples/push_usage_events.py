#!/usr/bin/env python3
"""Push product usage events to Hearth in batches of up to 1,000 (standard library only).

    export HEARTH_URL=http://127.0.0.1:8000 HEARTH_TOKEN=hth_…   # a token with the events:write scope
    python examples/push_usage_events.py --emails lin.mei@example.com,zhang.wei@example.com --count 10000
    python examples/push_usage_events.py --file events.jsonl      # one event object per line

Every event carries its own id, so running the script twice records nothing twice (Hearth answers
"duplicate" for ids it has seen). Rows Hearth rejects (an unknown member, a malformed row) are printed;
the rest of their batch is kept. Network errors, 429 and 5xx answers are retried with back-off.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

BATCH = 1000
NAMES = ("project_created", "report_exported", "dashboard_viewed", "invite_sent", "integration_connected")


def synthetic_events(emails: list[str], count: int, run: str) -> Iterator[dict]:
    """`count` events spread over the last week; ids derive from `run` and the position, so reruns dedupe."""
    now = datetime.now(UTC)
    for index in range(count):
        event_id = hashlib.sha256(f"{run}:{index}".encode()).hexdigest()[:32]
        yield {
            "id": event_id,
            "name": NAMES[index % len(NAMES)],
            "occurred_at": (now - timedelta(minutes=index % (7 * 24 * 60))).isoformat(),
            "email": emails[index % len(emails)],
            "properties": {"plan": "pro", "sequence": index},
        }


def file_events(path: str) -> Iterator[dict]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def batches(events: Iterable[dict], size: int = BATCH) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for event in events:
        batch.append(event)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def post_batch(base_url: str, token: str, batch: list[dict], attempts: int = 6) -> dict:
    body = json.dumps({"events": batch}).encode()
    request = urllib.request.Request(  # noqa: S310 (the URL is the operator's own Hearth)
        f"{base_url.rstrip('/')}/api/v1/events/",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    delay = 1.0
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return json.loads(response.read())  # 200 (all kept) or 207 (some rows rejected)
        except urllib.error.HTTPError as error:
            if error.code == 429 or error.code >= 500:
                retry_after = error.headers.get("Retry-After")
                wait = float(retry_after) if retry_after and retry_after.isdigit() else delay
            else:  # 400 (the request as a whole), 401 (token), 403 (scope or role): retrying will not help
                raise SystemExit(f"Hearth refused the batch: {error.code} {error.read().decode(errors='replace')}")
        except (urllib.error.URLError, TimeoutError) as error:
            wait = delay
            print(f"network error ({error}); retrying", file=sys.stderr)
        if attempt == attempts:
            raise SystemExit("Giving up after repeated failures; run again later (ids make it safe).")
        time.sleep(wait)
        delay = min(delay * 2, 60)
    raise AssertionError("unreachable")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", help="comma-separated member e-mails for synthetic events")
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--run", default="demo", help="changes the synthetic event ids")
    parser.add_argument("--file", help="JSON lines file of events instead of synthetic ones")
    args = parser.parse_args()
    base_url = os.environ.get("HEARTH_URL", "http://127.0.0.1:8000")
    token = os.environ.get("HEARTH_TOKEN")
    if not token:
        print("Set HEARTH_TOKEN to an API token with the events:write scope.", file=sys.stderr)
        return 2
    if args.file:
        events: Iterable[dict] = file_events(args.file)
    elif args.emails:
        events = synthetic_events([e.strip() for e in args.emails.split(",") if e.strip()], args.count, args.run)
    else:
        parser.error("give --emails or --file")
    totals = {"recorded": 0, "duplicates": 0, "rejected": 0}
    started = time.monotonic()
    for batch in batches(events):
        result = post_batch(base_url, token, batch)
        for key in totals:
            totals[key] += result[key]
        for row in result["results"]:
            if row["status"] == "rejected":
                print(f"rejected {row['id']}: {json.dumps(row['errors'], ensure_ascii=False)}", file=sys.stderr)
    elapsed = time.monotonic() - started
    print(
        f"recorded {totals['recorded']}, duplicates {totals['duplicates']}, rejected {totals['rejected']} "
        f"in {elapsed:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
