import { createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../../src/gen/auth/v1/auth_pb.js";
import { GOOD_PASSWORD, type TestAuth, grpcTransport, startTestAuth, uniqueEmail } from "../../support/auth.js";

/** RFC 6749 5.1 and RFC 9111 5.2.2.5: nothing that carries a token, a secret or personal data may be stored by a cache. */
describe("answers with tokens, secrets or personal data are Cache-Control: no-store", () => {
  let auth: TestAuth;
  const rpc = (name: string, body: unknown, token?: string) =>
    fetch(`${auth.server.url}/auth.v1.AuthService/${name}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    auth = await startTestAuth();
  });
  afterAll(async () => auth?.close());

  it("on every Connect answer, success or error (a refused BeginTotpEnrollment, a wrong password)", async () => {
    const email = uniqueEmail("nostore");
    const signUp = await rpc("SignUp", { email, password: GOOD_PASSWORD });
    const signIn = await rpc("SignIn", { email, password: GOOD_PASSWORD });
    const tokens = (await signIn.clone().json()) as { accessToken: string; refreshToken: string };
    const answers = {
      signUp,
      signIn,
      refresh: await rpc("Refresh", { refreshToken: tokens.refreshToken }),
      getMe: await rpc("GetMe", {}, tokens.accessToken),
      listSessions: await rpc("ListSessions", {}, tokens.accessToken),
      beginTotp: await rpc("BeginTotpEnrollment", {}, tokens.accessToken),
      audit: await rpc("ListAuditEvents", {}, tokens.accessToken),
      wrongPassword: await rpc("SignIn", { email, password: "not the password" }),
    };
    for (const [name, res] of Object.entries(answers)) expect(res.headers.get("cache-control"), name).toBe("no-store");
  });

  it("on gRPC answers too", async () => {
    const client = createClient(AuthService, grpcTransport(auth.server.url));
    const email = uniqueEmail("nostore-grpc");
    await client.signUp({ email, password: GOOD_PASSWORD });
    let header: string | null = null;
    await client.signIn({ email, password: GOOD_PASSWORD }, { onHeader: (h) => (header = h.get("cache-control")) });
    expect(header).toBe("no-store");
  });
});
