import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestAuth, newUser, startTestAuth } from "../../support/auth.js";
import { type TestAuthz, startTestAuthz } from "../../support/authz.js";

const SECRET = "a-shared-secret-of-at-least-32-characters";

/** With AUTHZ_CHECK_SECRET, only a caller that knows it (the gateway) gets decisions. */
describe("AUTHZ_CHECK_SECRET", () => {
  let auth: TestAuth;
  let authz: TestAuthz;
  beforeAll(async () => {
    auth = await startTestAuth();
    authz = await startTestAuthz(auth, { AUTHZ_CHECK_SECRET: SECRET });
  });
  afterAll(async () => {
    await authz?.close();
    await auth?.close();
  });

  const withSecret = (value: string) => {
    const metadata = new grpc.Metadata();
    metadata.set("x-authz-secret", value);
    return metadata;
  };

  it("Check without the secret, or with a wrong one, is an UNAUTHENTICATED error (Envoy then denies), never a decision", async () => {
    const { tokens } = await newUser(auth.client);
    const request = { headers: { authorization: `Bearer ${tokens.accessToken}` } };
    await expect(authz.check(request)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    await expect(authz.check(request, withSecret(`${SECRET}x`))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    const allowed = await authz.check(request, withSecret(SECRET));
    expect(allowed.status.code).toBe(0);
  });

  it("forward-auth without the secret header is 403, with it the usual answer", async () => {
    const { tokens } = await newUser(auth.client);
    const headers = { authorization: `Bearer ${tokens.accessToken}` };
    const refused = await authz.forward("/example/", headers);
    expect(refused.status).toBe(403);
    expect(refused.headers.get("x-auth-reason")).toBe("caller_not_authorized");
    expect((await authz.forward("/example/", { ...headers, "x-authz-secret": SECRET })).status).toBe(200);
  });
});
