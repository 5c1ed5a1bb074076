import * as grpc from "@grpc/grpc-js";
import { awaitShutdownDelay } from "./listener-limits.js";

export type ServingStatus = "SERVING" | "NOT_SERVING";

/** A service's definition from a proto-loader package, by full name; throws if the protos lack it. */
export function serviceOf(root: grpc.GrpcObject, name: string): grpc.ServiceDefinition {
  const found = name.split(".").reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], root);
  if (typeof found !== "function" || !("service" in found)) throw new Error(`${name} missing from the loaded protos`);
  return (found as grpc.ServiceClientConstructor).service;
}

/**
 * grpc.health.v1.Health for `known` services ("" is the server as a whole): Envoy's gRPC health
 * checks call Check; Watch streams each change, polled once a second.
 */
export function healthService(known: ReadonlySet<string>, status: () => Promise<ServingStatus>): grpc.UntypedServiceImplementation {
  return {
    Check(call: grpc.ServerUnaryCall<{ service?: string }, { status: string }>, callback: grpc.sendUnaryData<{ status: string }>) {
      const service = call.request.service ?? "";
      if (!known.has(service)) {
        callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${service.slice(0, 200)}` });
        return;
      }
      void status().then((s) => callback(null, { status: s }));
    },
    Watch(call: grpc.ServerWritableStream<{ service?: string }, { status: string }>) {
      const service = call.request.service ?? "";
      let last: string | undefined;
      const poll = async () => {
        const current = known.has(service) ? await status() : "SERVICE_UNKNOWN";
        if (current !== last && !call.cancelled) call.write({ status: current });
        last = current;
      };
      const timer = setInterval(() => void poll(), 1000);
      call.on("cancelled", () => clearInterval(timer));
      call.on("close", () => clearInterval(timer));
      void poll();
    },
  };
}

/** Binds `server` and gives back the port and a graceful close that forces after 2 s. */
/**
 * Binds and returns how to close: `tryShutdown` stops new calls and lets the ones in flight finish,
 * within `graceMs`, after which what is left is cut. `onDrain` runs first, so health answers
 * NOT_SERVING while the in-flight calls finish.
 */
export async function bindGrpcServer(
  server: grpc.Server,
  host: string,
  port: number,
  drain: { graceMs: number; delayMs?: number; onDrain?: () => void } = { graceMs: 2000 },
): Promise<{ port: number; close(): Promise<void> }> {
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (error, actual) => (error ? reject(error) : resolve(actual))),
  );
  return {
    port: bound,
    async close() {
      drain.onDrain?.();
      await awaitShutdownDelay({ shutdownDelayMs: drain.delayMs ?? 0 });
      return new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), drain.graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}
