import { fileURLToPath } from "node:url";

/** Where @grpc/proto-loader finds the protos the gRPC servers load at run time. */
export interface ProtoDirs {
  /** The vendored Envoy data-plane-api files (envoy/api): external_auth.proto's and rls.proto's closures. */
  envoyApi: string;
  /** The project's protos, for grpc/health/v1/health.proto. */
  project: string;
}

export function defaultProtoDirs(): ProtoDirs {
  return {
    envoyApi: fileURLToPath(new URL("../../envoy/api", import.meta.url)),
    project: fileURLToPath(new URL("../../proto", import.meta.url)),
  };
}
