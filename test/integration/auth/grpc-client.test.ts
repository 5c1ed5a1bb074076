import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { ServerReflection } from "../../../src/gen/grpc/reflection/v1/reflection_pb.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../../../src/gen/grpc/health/v1/health_pb.js";
import { AuthService } from "../../../src/gen/auth/v1/auth_pb.js";
import { GOOD_PASSWORD, type TestAuth, grpcTransport, grpcWebTransport, startTestAuth, uniqueEmail } from "../../support/auth.js";

const PROTO = fileURLToPath(new URL("../../../proto/auth/v1/auth.proto", import.meta.url));

type Callback<T> = (error: grpc.ServiceError | null, value?: T) => void;
type Unary = <T>(request: object, metadata: grpc.Metadata, callback: Callback<T>) => void;

describe("plain gRPC stubs (@grpc/grpc-js), gRPC-Web and health", () => {
  let auth: TestAuth;
  let stub: Record<string, Unary> & grpc.Client;

  beforeAll(async () => {
    auth = await startTestAuth();
    const definition = protoLoader.loadSync(PROTO, { keepCase: true, defaults: true, includeDirs: [fileURLToPath(new URL("../../../proto", import.meta.url))] });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { auth: { v1: { AuthService: grpc.ServiceClientConstructor } } };
    stub = new pkg.auth.v1.AuthService(`127.0.0.1:${auth.server.port}`, grpc.credentials.createInsecure()) as unknown as Record<string, Unary> & grpc.Client;
  });
  afterAll(async () => {
    stub?.close();
    await auth?.close();
  });

  const call = <T>(method: string, request: object, metadata = new grpc.Metadata()) =>
    new Promise<T>((resolve, reject) => (stub[method] as Unary).call(stub, request, metadata, (error, value) => (error ? reject(error) : resolve(value as T))));

  it("signs up, signs in and calls an authenticated RPC over HTTP/2 gRPC", async () => {
    const email = uniqueEmail();
    await call("SignUp", { email, password: GOOD_PASSWORD });
    const tokens = await call<{ access_token: string; session_id: string }>("SignIn", { email, password: GOOD_PASSWORD });
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${tokens.access_token}`);
    const me = await call<{ user: { email: string } }>("GetMe", {}, metadata);
    expect(me.user.email).toBe(email);
    const error = await call("GetMe", {}).catch((e: grpc.ServiceError) => e);
    expect((error as grpc.ServiceError).code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it("maps domain errors to gRPC status codes with a clear message", async () => {
    const error = (await call("SignUp", { email: "not-an-email", password: GOOD_PASSWORD }).catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/email/);
    expect(error.details).not.toMatch(/\n\s+at /);
  });

  it("serves the same API over Connect's gRPC and gRPC-Web transports", async () => {
    for (const transport of [grpcTransport(auth.server.url), grpcWebTransport(auth.server.url)]) {
      const client = createClient(AuthService, transport);
      const email = uniqueEmail();
      await client.signUp({ email, password: GOOD_PASSWORD });
      await expect(client.signIn({ email, password: GOOD_PASSWORD })).resolves.toMatchObject({ tokenType: "Bearer" });
    }
  });

  it("answers gRPC server reflection with the schema of every service", async () => {
    const reflection = createClient(ServerReflection, grpcTransport(auth.server.url));
    async function* requests() {
      yield { messageRequest: { case: "listServices" as const, value: "" } };
      yield { messageRequest: { case: "fileContainingSymbol" as const, value: "auth.v1.AuthService.SignIn" } };
      yield { messageRequest: { case: "fileByFilename" as const, value: "nope.proto" } };
    }
    const answers = [];
    for await (const answer of reflection.serverReflectionInfo(requests())) answers.push(answer.messageResponse);
    expect(answers[0]?.case).toBe("listServicesResponse");
    const names = answers[0]?.case === "listServicesResponse" ? answers[0].value.service.map((s) => s.name) : [];
    expect(names).toEqual(expect.arrayContaining(["auth.v1.AuthService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"]));
    expect(answers[1]?.case).toBe("fileDescriptorResponse");
    const files = answers[1]?.case === "fileDescriptorResponse" ? answers[1].value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name) : [];
    expect(files).toEqual(["google/protobuf/struct.proto", "google/protobuf/timestamp.proto", "auth/v1/auth.proto"]);
    expect(answers[2]).toMatchObject({ case: "errorResponse", value: { errorCode: Code.NotFound } });
  });

  it("answers gRPC health checks", async () => {
    const health = createClient(Health, grpcTransport(auth.server.url));
    expect((await health.check({ service: "" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await health.check({ service: "auth.v1.AuthService" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    await expect(health.check({ service: "nope" })).rejects.toThrow(/unknown service/);
    const ready = await fetch(`${auth.server.url}/readyz`);
    expect(ready.status).toBe(200);
  });
});
