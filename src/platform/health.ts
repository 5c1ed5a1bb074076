import type { ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../gen/grpc/health/v1/health_pb.js";

export interface ReadinessProbe {
  /** Throws when a dependency the service needs to answer is not reachable. */
  check(): Promise<void>;
}

/** gRPC health checking (grpc.health.v1): "" and each named service are SERVING while ready. */
export function createHealthService(services: string[], probe: ReadinessProbe): ServiceImpl<typeof Health> {
  const known = new Set(["", ...services]);
  async function status(service: string): Promise<Status> {
    if (!known.has(service)) throw new ConnectError(`unknown service ${service.slice(0, 200)}`, Code.NotFound);
    try {
      await probe.check();
      return Status.SERVING;
    } catch {
      return Status.NOT_SERVING;
    }
  }
  return {
    async check(req) {
      return { status: await status(req.service) };
    },
    async *watch(req, ctx) {
      let last: Status | undefined;
      while (!ctx.signal.aborted) {
        const current = await status(req.service);
        if (current !== last) yield { status: current };
        last = current;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    },
  };
}
