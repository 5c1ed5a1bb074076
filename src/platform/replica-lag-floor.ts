import type pg from "pg";
import type { Logger } from "./log.js";

/**
 * How far behind a replica may be and still serve reads, measured in WAL rather than in time on the
 * replica: the primary's WAL position is sampled every `sampleEveryMs`, and a replica must have
 * replayed the newest sample at least `maxLagMs` old. Replay timestamps cannot tell an idle primary
 * from a stuck replica, nor a disconnected WAL receiver from a caught-up one; a position taken from
 * the primary can. A replica that passes is at most `maxLagMs + sampleEveryMs` behind.
 */
export interface ReplicaLagFloor {
  /** The WAL position (byte offset, numeric text) a replica must have replayed to serve a read now. */
  required(): string | undefined;
  close(): void;
}

export interface ReplicaLagFloorDeps {
  primary: Pick<pg.Pool, "query">;
  maxLagMs: number;
  sampleEveryMs: number;
  log: Logger;
  now?: () => number;
}

const CURRENT_LSN = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::text AS lsn";

export function startReplicaLagFloor(deps: ReplicaLagFloorDeps): ReplicaLagFloor {
  const now = deps.now ?? Date.now;
  // Oldest first; only the newest sample old enough, and the ones after it, are kept.
  let samples: Array<{ at: number; lsn: string }> = [];
  let failing = false;

  async function sample(): Promise<void> {
    try {
      const { rows } = await deps.primary.query<{ lsn: string }>(CURRENT_LSN);
      const at = now();
      samples.push({ at, lsn: rows[0]!.lsn });
      const oldEnough = samples.filter((s) => at - s.at >= deps.maxLagMs);
      if (oldEnough.length > 1) samples = samples.slice(oldEnough.length - 1);
      if (failing) deps.log.info("primary WAL position sampled again; replica lag is measured");
      failing = false;
    } catch (error) {
      // The floor stays where it was: replicas that replayed it keep serving while the primary is away.
      if (!failing) deps.log.warn({ err: error instanceof Error ? error.message : String(error) }, "cannot sample the primary's WAL position; replica lag floor frozen");
      failing = true;
    }
  }

  void sample();
  const timer = setInterval(() => void sample(), deps.sampleEveryMs);
  timer.unref();

  return {
    required() {
      const at = now();
      const oldEnough = samples.filter((s) => at - s.at >= deps.maxLagMs);
      // Until a sample is old enough (start-up), the oldest one: stricter, never looser.
      return (oldEnough[oldEnough.length - 1] ?? samples[0])?.lsn;
    },
    close: () => clearInterval(timer),
  };
}
