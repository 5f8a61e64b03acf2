"""Worker failure (`make chaos`): SIGKILL a Celery worker in the middle of a task; after a restart the task's work
is done exactly once.

`task_acks_late` is on, so a message is acknowledged only when its task returns: a worker killed mid-task leaves
it unacknowledged, the broker hands it out again, and the task must be safe to run twice. Scenarios:

- award, killed before the award is written: the redelivered task awards once;
- award, killed after the award committed but before the acknowledgement: the redelivered task runs again and the
  ledger's idempotency key keeps it to one entry;
- webhook delivery, killed while waiting for the receiver's answer: the delivery is sent again once its claim
  expires and ends succeeded with one recorded attempt.

Each ends with the ledger checked: exactly one entry for the task's key, the balance equal to the ledger sums.
Needs REDIS_URL (the broker whose redelivery is being tested). Runs on a scratch database. Prints
`name: value unit` lines and exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench import harness

WAIT_SECONDS = 90


@dataclass
class Outcome:
    name: str
    ok: bool
    detail: str
    recovery_seconds: float


class Worker:
    """One Celery worker process (solo pool: the task runs in the process that gets killed)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "community.settings.base", "DEBUG": "false"}
        command = [
            os.path.join(os.path.dirname(sys.executable), "celery"),
            "-A",
            "bench.chaos_tasks",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            f"--hostname=chaos-{uuid.uuid4().hex[:8]}@%h",
        ]
        # The worker's banner and logs go to stderr: stdout carries only figure lines.
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv
            command, cwd=harness.PROJECT_DIR, env=environment, stdout=sys.stderr
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_for(condition: Callable[[], bool], *, seconds: float = WAIT_SECONDS) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def award_scenario(*, name: str, kill_at: str) -> Outcome:
    """Kill the worker once the task has reached `kill_at` ("started": before the award, "awarded": after it)."""
    from django.db import connections

    from bench.chaos_tasks import chaos_award, marks
    from members.models import User
    from members.services import member_create
    from rewards.models import PointEntry
    from rewards.selectors.ledger import balance_for_member, ledger_drift

    store = marks()
    user = User.objects.create_user(email=f"{name}-{uuid.uuid4().hex[:8]}@example.com")
    member = member_create(user=user, display_name=name)
    key = f"chaos:{name}:{uuid.uuid4()}"
    amount = 40
    connections.close_all()

    worker = Worker()
    worker.start()
    try:
        chaos_award.apply_async(
            kwargs={"member_id": member.pk, "amount": amount, "key": key, "hold_before": 3.0, "hold_after": 3.0}
        )
        if not wait_for(lambda: int(store.get(f"{key}:{kill_at}") or 0) >= 1):
            return Outcome(name, False, f"the task never reached {kill_at!r}", 0.0)
        worker.kill()
        killed_at = time.monotonic()
        finished_before_kill = int(store.get(f"{key}:finished") or 0)
        worker = Worker()
        worker.start()
        recovered = wait_for(lambda: int(store.get(f"{key}:finished") or 0) >= 1)
        recovery = time.monotonic() - killed_at
    finally:
        worker.stop()

    # Every entry the task made, whatever key it used: exactly one may exist.
    entries = PointEntry.objects.filter(idempotency_key__startswith=key).count()
    runs = int(store.get(f"{key}:started") or 0)
    balance = balance_for_member(member=member).spendable
    drift = ledger_drift(member_ids=[member.pk])
    store.delete(f"{key}:started", f"{key}:awarded", f"{key}:finished")
    ok = recovered and finished_before_kill == 0 and runs >= 2 and entries == 1 and not drift
    detail = (
        f"killed after {kill_at!r}; task started {runs}x, finished after restart: {recovered}; "
        f"ledger entries for its key: {entries}; balance {balance}; drift {drift}"
    )
    return Outcome(name, ok, detail, recovery)


class Receiver:
    """A webhook receiver on the loopback: records every request's delivery id, holds the first one open (so the
    worker can be killed while it waits for the answer), answers 200."""

    def __init__(self, *, hold_first: float) -> None:
        import http.server
        import threading

        self.requests: list[str] = []
        self.answered: list[str] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append(self.headers.get("Hearth-Delivery", "?"))
                if len(receiver.requests) == 1:
                    time.sleep(hold_first)
                try:
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"ok")
                    receiver.answered.append(self.headers.get("Hearth-Delivery", "?"))
                except OSError:
                    pass  # the worker that sent it is gone

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def webhook_scenario(*, name: str = "webhook_killed_mid_delivery") -> Outcome:
    """Kill the worker while its delivery waits for the receiver's answer. The redelivered task finds the delivery
    still claimed and leaves it; once the claim expires the sweep (beat's job, run here every few seconds) sends it
    again. Passes when the delivery ends succeeded with one recorded attempt."""
    from django.db import connections

    from integrations import event_types
    from integrations.models import WebhookDelivery
    from integrations.services.webhooks import webhook_event_publish, webhook_subscription_create
    from integrations.tasks import webhook_deliveries_enqueue_due

    receiver = Receiver(hold_first=4.0)
    event_type = next(iter(event_types.EVENT_TYPES))
    webhook_subscription_create(
        actor=None, name=name, url=receiver.url, event_types=[event_type], allow_private_network=True
    )
    worker = Worker()
    worker.start()
    try:
        event = webhook_event_publish(event_type, {"chaos": name})
        if event is None:
            return Outcome(name, False, "no delivery was queued", 0.0)
        delivery = WebhookDelivery.objects.get(event=event)
        connections.close_all()
        if not wait_for(lambda: len(receiver.requests) >= 1):
            return Outcome(name, False, "the receiver never got the delivery", 0.0)
        worker.kill()
        killed_at = time.monotonic()
        worker = Worker()
        worker.start()

        def done() -> bool:
            webhook_deliveries_enqueue_due.delay()  # what beat sends every minute
            connections.close_all()
            return WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.SUCCEEDED).exists()

        recovered = wait_for(done, seconds=WAIT_SECONDS + 60)
        recovery = time.monotonic() - killed_at
    finally:
        worker.stop()
        receiver.close()
    delivery.refresh_from_db()
    ok = recovered and delivery.attempts == 1 and delivery.status == WebhookDelivery.Status.SUCCEEDED
    detail = (
        f"status {delivery.status}, recorded attempts {delivery.attempts}; the receiver got {len(receiver.requests)} "
        f"requests for delivery {delivery.pk} and answered {len(receiver.answered)} of them to a live worker"
    )
    return Outcome(name, ok, detail, recovery)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run only scenarios whose name starts with this")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not os.environ.get("REDIS_URL"):
        print("make chaos needs REDIS_URL: it tests the broker's redelivery of unacknowledged tasks.", file=sys.stderr)
        return 2
    configured = os.environ.get("DATABASE_URL")
    if configured and configured.startswith("postgres"):
        os.environ["DATABASE_URL"] = configured.rstrip("/") + "_chaos"
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)
    # Short webhook timeouts, so a delivery's claim (connect + read + 30 s) expires within the run.
    os.environ.setdefault("WEBHOOK_CONNECT_TIMEOUT", "1")
    os.environ.setdefault("WEBHOOK_READ_TIMEOUT", "5")
    harness.setup_django()

    scenarios: list[tuple[str, Callable[[], Outcome]]] = [
        ("award_killed_before_commit", lambda: award_scenario(name="award_killed_before_commit", kill_at="started")),
        ("award_killed_after_commit", lambda: award_scenario(name="award_killed_after_commit", kill_at="awarded")),
        ("webhook_killed_mid_delivery", webhook_scenario),
    ]
    failures = 0
    with harness.bench_database():
        for name, scenario in scenarios:
            if args.only and not name.startswith(args.only):
                continue
            outcome = scenario()
            failures += not outcome.ok
            print(f"# {outcome.name}: {'ok' if outcome.ok else 'FAILED'} — {outcome.detail}", file=sys.stderr)
            print(harness.format_figure(harness.Figure(f"chaos_{name}_ok", int(outcome.ok), "bool")))
            print(harness.format_figure(harness.Figure(f"chaos_{name}_recovery", outcome.recovery_seconds, "s")))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
