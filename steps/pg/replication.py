"""pg.replication: the read replica is streaming from the primary and within the lag limits.

On the primary: it is up and not itself in recovery; its pg_stat_replication rows (client,
state, sent and replay LSN). On the replica: in recovery, a WAL receiver streaming, and the
lag, in bytes (received but not replayed, or written on the primary but not replayed) and in
seconds (now minus the last replayed transaction's commit time; 0 when everything received
is replayed, so an idle primary does not look like a lagging replica).
"""

from __future__ import annotations

from typing import Any, ClassVar

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.durations import DurationError, format_duration, parse_duration
from runbook.format.params import Param, ParamType
from steps.pg.base import CONN_PARAMS, PgError, PgStep, connect, human_bytes, target

PRIMARY_ROWS = """
SELECT coalesce(application_name, ''), coalesce(host(client_addr), 'local'), state,
       sent_lsn::text, replay_lsn::text, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)
FROM pg_stat_replication ORDER BY application_name, client_addr
"""
REPLICA_STATE = """
SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()),
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END,
       pg_is_wal_replay_paused()
"""


def lsn(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) + int(lo, 16)


class PgReplication(PgStep):
    name = "pg.replication"
    doc = "read replica streaming from the primary and within the lag thresholds"
    params: ClassVar[tuple[Param, ...]] = (
        Param("primary_url", ParamType.STR, True),
        Param("replica_url", ParamType.STR, True),
        Param("max_lag_bytes", ParamType.INT, default=16777216, doc="WAL not yet replayed"),
        Param("max_lag", ParamType.DURATION, default=30.0, doc="replay delay"),
        *CONN_PARAMS,
    )

    def run_pg(self, ctx: StepContext) -> StepResult:
        try:
            max_lag = parse_duration(ctx.param("max_lag", 30.0))
        except DurationError as e:
            raise PgError(f"max_lag: {e}") from None
        max_bytes = int(ctx.param("max_lag_bytes", 16777216))
        primary, replica = target(ctx, "primary_url"), target(ctx, "replica_url")
        try:
            conn = connect(ctx, primary)
        except PgError as e:
            raise PgError(f"primary down: {e}") from None
        with conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row and row[0]:
                raise PgError(f"primary_url {primary.shown} is a standby (in recovery), "
                              f"not the primary")
            head_row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
            rows = conn.execute(PRIMARY_ROWS).fetchall()
        head = str(head_row[0]) if head_row else "0/0"
        lines = [f"primary {primary.shown}: WAL at {head}, {len(rows)} streaming client(s)"]
        for app, addr, state, sent, replay, behind in rows:
            lag = "?" if behind is None else human_bytes(float(behind))
            lines.append(f"  {app or '-'} from {addr}: {state or '? (needs pg_monitor)'}, "
                         f"sent {sent or '?'}, replayed {replay or '?'} ({lag} behind)")
        ctx.output.write_lines(lines)
        try:
            conn = connect(ctx, replica)
        except PgError as e:
            raise PgError(f"replica down: {e}") from None
        with conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if not (row and row[0]):
                raise PgError(f"replica {replica.shown} is not in recovery: it was promoted "
                              f"or is not a replica")
            receivers = conn.execute("SELECT pid, status, sender_host, sender_port "
                                     "FROM pg_stat_wal_receiver").fetchall()
            state = conn.execute(REPLICA_STATE).fetchone()
        assert state is not None
        return self._judge(ctx, replica.shown, head, rows, receivers, state, max_bytes, max_lag)

    def _judge(self, ctx: StepContext, shown: str, head: str, rows: list[Any],
               receivers: list[Any], state: Any, max_bytes: int, max_lag: float) -> StepResult:
        received, replayed, pending, seconds, paused = state
        streaming_rows = [r for r in rows if r[2] == "streaming"]
        if not receivers:
            return StepResult(Outcome.FAILED, f"replica not streaming: {shown} has no WAL "
                              f"receiver (primary_conninfo unset, or it cannot reach the primary)")
        _, status, host, port = receivers[0]
        if status is not None and status != "streaming":
            return StepResult(Outcome.FAILED, f"replica not streaming: WAL receiver of {shown} "
                              f"is {status}")
        if status is None and not streaming_rows:  # details hidden without pg_read_all_stats
            return StepResult(Outcome.FAILED, f"replica not streaming: the primary lists no "
                              f"streaming client and {shown} hides its receiver's status")
        if received is None or replayed is None:
            return StepResult(Outcome.FAILED, f"replica not streaming: {shown} has received no WAL")
        lag_bytes = max(int(pending or 0), lsn(head) - lsn(str(replayed)), 0)
        lag_s = None if seconds is None else max(float(seconds), 0.0)
        source = f"from {host}:{port}" if host else "from the primary"
        delay = "replay delay " + ("unknown" if lag_s is None else f"{lag_s:.1f} s")
        ctx.output.write_lines([
            f"replica {shown}: in recovery, WAL receiver {status or 'running'} {source}",
            f"  received {received}, replayed {replayed}: {human_bytes(lag_bytes)} behind, "
            f"{delay}" + (" (replay paused)" if paused else ""),
        ])
        facts = {"lag_bytes": lag_bytes, "lag_seconds": lag_s, "replay_paused": bool(paused),
                 "replicas_on_primary": len(rows)}
        limits = f"max {human_bytes(max_bytes)}, {format_duration(max_lag)}"
        note = "; replay is paused (pg_wal_replay_resume())" if paused else ""
        if lag_bytes > max_bytes:
            return StepResult(Outcome.FAILED, f"replica lags {human_bytes(lag_bytes)} "
                              f"({lag_bytes} bytes) behind the primary, over max_lag_bytes "
                              f"{max_bytes}{note}", facts=facts)
        if lag_s is not None and lag_s > max_lag:
            return StepResult(Outcome.FAILED, f"replica lags {lag_s:.1f} s behind the primary, "
                              f"over max_lag {format_duration(max_lag)}{note}", facts=facts)
        return StepResult(Outcome.PASSED, f"replica streaming, {human_bytes(lag_bytes)} behind, "
                          f"{delay} ({limits})", facts=facts)
