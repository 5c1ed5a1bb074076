/**
 * The example protected service as its own process, for compose's `example-upstream`: the same
 * startExampleUpstream (src/example/upstream.ts) that `npm start` runs in-process, which echoes
 * the identity headers the gateway sent. It trusts those headers, so compose never publishes it.
 *
 * Environment: EXAMPLE_HOST (0.0.0.0), EXAMPLE_PORT (7010).
 */
import { startExampleUpstream } from "../src/example/upstream.js";

const port = Number(process.env.EXAMPLE_PORT || "7010");
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`example upstream: EXAMPLE_PORT must be a port, got "${process.env.EXAMPLE_PORT}"\n`);
  process.exit(2);
}
const upstream = await startExampleUpstream(process.env.EXAMPLE_HOST || "0.0.0.0", port);
process.stdout.write(`example upstream listening on ${upstream.url}\n`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void upstream.close().finally(() => process.exit(0)));
}
