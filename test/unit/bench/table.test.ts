import { describe, expect, it } from "vitest";
import { renderRow, type Row } from "../../../bench/table.js";

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
});
