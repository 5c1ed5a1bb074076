import { ConfigError } from "../../src/platform/config.js";

/** The problems a config loader reports (each naming its variable); none when it loads. */
export function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}
