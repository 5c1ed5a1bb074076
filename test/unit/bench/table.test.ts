import { describe, expect, it } from "vitest";
import { measureRounds, measureRow, pairRow, renderRow, type Row } from "../../../bench/table.js";

const row = (rounds: Row["rounds"]): Row => ({ name: "Check, Bearer cached", ceiling: "bare", unit: "req/s", target: "near 1", rounds, busyCores: 1.96 });
const cells = (line: string) => line.slice(2, -2).split(" | ");

describe("the bench table's row", () => {
  it("gives the median and range of the per-round ratios, the medians of each side and the failures of both", () => {
    const line = renderRow(
      row([
        { contender: { value: 900, p99Ms: 4, failures: 1 }, ceiling: { value: 1000, p99Ms: 2 } },
        { contender: { value: 500, p99Ms: 8 }, ceiling: { value: 1000, p99Ms: 3, failures: 2 } },
        { contender: { value: 700, p99Ms: 6 }, ceiling: { value: 1000, p99Ms: 2 } },
      ]),
    );
    expect(cells(line)).toEqual(["Check, Bearer cached", "bare", "0.70x (0.50-0.90)", "near 1", "700 req/s", "1000 req/s", "6.00 / 2.00", "3", "2.0"]);
  });

  it("prints NaN, which the quick run refuses, when a side produced no number", () => {
    const line = renderRow(row([{ contender: { value: Number.NaN }, ceiling: { value: 1000 } }]));
    expect(cells(line)[2]).toBe("NaNx");
    expect(cells(line)[6]).toBe("-");
  });

  it("runs every side once a round, moving the first side on each round, and pairs two sides round by round", async () => {
    const order: string[] = [];
    const side = (name: string, value: number) => async (round: number) => {
      order.push(`${round}:${name}`);
      return { value: value + round };
    };
    const measured = await measureRounds(3, { a: side("a", 100), b: side("b", 200), c: side("c", 400) });
    expect(order).toEqual(["0:a", "0:b", "0:c", "1:b", "1:c", "1:a", "2:c", "2:a", "2:b"]);
    const paired = pairRow({ name: "a vs c", ceiling: "c", unit: "req/s", target: "-" }, measured, "a", "c");
    expect(paired.rounds).toEqual([0, 1, 2].map((round) => ({ contender: { value: 100 + round }, ceiling: { value: 400 + round } })));
  });

  it("keeps a two-sided row alternating which side goes first", async () => {
    const order: string[] = [];
    const side = (name: string) => async () => {
      order.push(name);
      return { value: 1 };
    };
    await measureRow({ name: "x", ceiling: "y", unit: "ms", target: "-" }, 3, side("contender"), side("ceiling"));
    expect(order).toEqual(["contender", "ceiling", "ceiling", "contender", "contender", "ceiling"]);
  });
});
