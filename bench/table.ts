import { busyCoresSince } from "./proc-stats.js";

/** One timed run of one side: the figure the row compares (req/s, ms or MiB), and what it saw go wrong. */
export interface Measure {
  value: number;
  p99Ms?: number;
  failures?: number;
}

export interface RowSpec {
  name: string;
  ceiling: string;
  unit: "req/s" | "ms" | "MiB";
  /** From the issue; says whether a higher or a lower ratio is better. */
  target: string;
}

export interface Row extends RowSpec {
  rounds: Array<{ contender: Measure; ceiling: Measure }>;
  busyCores: number;
}

const median = (values: number[]) => {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
};

export const ratios = (row: Row) => row.rounds.map((r) => r.contender.value / r.ceiling.value);

const fixed = (value: number, unit: Row["unit"] | "ratio") =>
  Number.isNaN(value) ? "NaN" : unit === "req/s" ? value.toFixed(0) : unit === "ratio" ? value.toFixed(2) : value < 10 ? value.toFixed(2) : value.toFixed(1);

export const TABLE_HEADER = [
  "| row | ceiling | ratio, median (range) | target | contender | ceiling | p99 ms, contender / ceiling | failures | busy cores |",
  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
];

/** One markdown line; the ratio is contender / ceiling of each round, so noise that hits a round hits both sides. */
export function renderRow(row: Row): string {
  const r = ratios(row);
  const finite = r.filter((v) => Number.isFinite(v));
  const range = finite.length > 1 ? ` (${fixed(Math.min(...finite), "ratio")}-${fixed(Math.max(...finite), "ratio")})` : "";
  const side = (pick: (round: Row["rounds"][number]) => Measure) => median(row.rounds.map((round) => pick(round).value));
  const p99 = (pick: (round: Row["rounds"][number]) => Measure) => median(row.rounds.map((round) => pick(round).p99Ms ?? Number.NaN));
  const p99Cell = row.rounds.some((round) => round.contender.p99Ms !== undefined)
    ? `${fixed(p99((round) => round.contender), "ms")} / ${fixed(p99((round) => round.ceiling), "ms")}`
    : "-";
  const failures = row.rounds.reduce((sum, round) => sum + (round.contender.failures ?? 0) + (round.ceiling.failures ?? 0), 0);
  return `| ${row.name} | ${row.ceiling} | ${fixed(median(r), "ratio")}x${range} | ${row.target} | ${fixed(side((round) => round.contender), row.unit)} ${row.unit} | ${fixed(side((round) => round.ceiling), row.unit)} ${row.unit} | ${p99Cell} | ${failures} | ${Number.isNaN(row.busyCores) ? "-" : row.busyCores.toFixed(1)} |`;
}

/**
 * Runs every side once a round, the first side moving on by one each round, so no side always runs
 * on a machine another has just warmed or heated. Sides run in their key order in round 0.
 */
export async function measureRounds<K extends string>(
  rounds: number,
  sides: Record<K, (round: number) => Promise<Measure>>,
): Promise<{ rounds: Array<Record<K, Measure>>; busyCores: number }> {
  const done = busyCoresSince();
  const keys = Object.keys(sides) as K[];
  const results: Array<Record<K, Measure>> = [];
  for (let round = 0; round < rounds; round++) {
    const measured = {} as Record<K, Measure>;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[(round + i) % keys.length]!;
      measured[key] = await sides[key](round);
    }
    results.push(measured);
  }
  return { rounds: results, busyCores: done() };
}

/** A row of two of the sides measureRounds ran, paired round by round. */
export function pairRow<K extends string>(spec: RowSpec, measured: { rounds: Array<Record<K, Measure>>; busyCores: number }, contender: K, ceiling: K): Row {
  return { ...spec, rounds: measured.rounds.map((round) => ({ contender: round[contender], ceiling: round[ceiling] })), busyCores: measured.busyCores };
}

/** A contender and its ceiling back to back in each round, the order swapped every round. */
export async function measureRow(
  spec: RowSpec,
  rounds: number,
  contender: (round: number) => Promise<Measure>,
  ceiling: (round: number) => Promise<Measure>,
): Promise<Row> {
  return pairRow(spec, await measureRounds(rounds, { contender, ceiling }), "contender", "ceiling");
}
