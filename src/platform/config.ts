import { parseDuration } from "./duration.js";

/**
 * The generic part of configuration: typed reads of environment variables and the one error
 * that names every bad variable. Each service's own settings live with the service
 * (src/auth/config.ts, src/auth/mail/config.ts, src/authz/config.ts, src/stack/config.ts).
 */

/** A budget: `points` per `durationMs`, written "<points>/<duration>" such as 5/1h. */
export interface Rate {
  points: number;
  durationMs: number;
}

export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    message = `invalid configuration:\n  - ${problems.join("\n  - ")}`,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

export type Env = Record<string, string | undefined>;

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export const POSTGRES_PROTOCOLS = ["postgres:", "postgresql:"];
export const REDIS_PROTOCOLS = ["redis:", "rediss:"];

/** Typed reads of env variables; each bad value adds a problem naming its variable and yields a placeholder. */
export class EnvReader {
  constructor(
    private readonly env: Env,
    private readonly problems: string[],
  ) {}

  /** Adds a problem found by the caller (a rule across variables, or a format of its own). */
  report(problem: string): void {
    this.problems.push(problem);
  }

  private raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  }

  /** Whether the variable holds anything but blanks. */
  isSet(name: string): boolean {
    return this.raw(name) !== undefined;
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  list(name: string): string[] {
    return (this.raw(name) ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max}, got "${value}"`);
      return fallback;
    }
    return parsed;
  }

  port(name: string, fallback: number): number {
    return this.integer(name, fallback, 0, 65535);
  }

  duration(name: string, fallback: string, maxMs = Infinity): number {
    const value = this.raw(name) ?? fallback;
    const parsed = parseDuration(value);
    if (parsed === undefined || parsed <= 0 || parsed > maxMs) {
      const range = maxMs === Infinity ? "such as 30s, 10m, 7d" : `from 1ms to ${maxMs}ms such as 200ms or 5s`;
      this.problems.push(`${name} must be a duration ${range}; got "${value}"`);
      return 1;
    }
    return parsed;
  }

  rate(name: string, fallback: string): Rate {
    const value = this.raw(name) ?? fallback;
    const match = /^(\d{1,9})\/(.+)$/.exec(value);
    const points = match ? Number(match[1]) : 0;
    const durationMs = match?.[2] ? parseDuration(match[2]) : undefined;
    if (points < 1 || durationMs === undefined || durationMs < 1000) {
      this.problems.push(`${name} must read <points>/<duration> such as 5/1h; got "${value}"`);
      return { points: 1, durationMs: 1000 };
    }
    return { points, durationMs };
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      this.problems.push(`${name} must be one of ${allowed.join(", ")}; got "${value}"`);
      return fallback;
    }
    return value as T;
  }

  /** One of `allowed`, or undefined when unset (the caller decides what "unset" means). */
  optionalOneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    return this.raw(name) === undefined ? undefined : this.oneOf(name, allowed, allowed[0] as T);
  }

  optionalUrl(name: string, protocols: string[]): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      this.problems.push(`${name} is not a valid URL`);
      return undefined;
    }
    if (!protocols.includes(url.protocol)) {
      this.problems.push(`${name} must use ${protocols.join(" or ")}//, got ${url.protocol}//`);
      return undefined;
    }
    return value;
  }

  url(name: string, protocols: string[]): string {
    if (this.raw(name) === undefined) {
      this.problems.push(`${name} is required`);
      return "";
    }
    return this.optionalUrl(name, protocols) ?? "";
  }

  optionalKey32(name: string): Buffer | undefined {
    return this.raw(name) === undefined ? undefined : this.key32(name);
  }

  key32(name: string): Buffer {
    const value = this.raw(name);
    if (value === undefined) {
      this.problems.push(`${name} is required (32 random bytes, base64: openssl rand -base64 32)`);
      return Buffer.alloc(32);
    }
    const key = Buffer.from(value, "base64");
    if (key.length !== 32) {
      this.problems.push(`${name} must be 32 bytes encoded as base64, got ${key.length} bytes`);
      return Buffer.alloc(32);
    }
    return key;
  }
}
