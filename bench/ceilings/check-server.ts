import * as grpc from "@grpc/grpc-js";
import { loadAuthzProtos } from "../../src/authz/grpc-server.js";
import { serviceOf } from "../../src/platform/grpc-health.js";

/**
 * The Check's ceiling: grpc-js with the same protos answering one fixed allow, no decision at all.
 * Whatever the authz server costs beyond this is the price of its pipeline.
 * Listens on 127.0.0.1:CEILING_PORT; the protos are read from CEILING_ENVOY_API and CEILING_PROTO_DIR,
 * since the compiled copy (bench/compiled.ts) does not sit where src/platform/proto-dirs.ts looks.
 */
const ALLOW = {
  status: { code: 0, message: "" },
  dynamic_metadata: { fields: { decision: { stringValue: "allow" }, reason: { stringValue: "authenticated" } } },
  ok_response: { headers: [{ header: { key: "x-user-id", value: "00000000-0000-4000-8000-000000000000" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }], headers_to_remove: [] },
};

const server = new grpc.Server();
server.addService(serviceOf(loadAuthzProtos({ envoyApi: process.env.CEILING_ENVOY_API ?? "", project: process.env.CEILING_PROTO_DIR ?? "" }), "envoy.service.auth.v3.Authorization"), {
  Check(_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
    callback(null, ALLOW);
  },
});
server.bindAsync(`127.0.0.1:${process.env.CEILING_PORT}`, grpc.ServerCredentials.createInsecure(), (error) => {
  if (error) throw error;
});
process.on("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
