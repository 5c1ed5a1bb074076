import type { GatewayTargets } from "../../src/stack/gateway-config.js";

const at = (port: number) => ({ host: "127.0.0.1", port });

/** Made-up endpoints (two auth and two authz instances) for rendering gateway configs nobody connects to. */
export const SAMPLE_TARGETS: GatewayTargets = {
  listen: at(18080),
  auth: [at(17001), at(17004)],
  authz: [
    { grpc: at(17002), http: at(17003) },
    { grpc: at(17012), http: at(17013) },
  ],
  example: at(17010),
};
