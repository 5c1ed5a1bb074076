import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminClient, grantRoleDirectly, type AdminClient } from "../../support/admin.js";
import { GOOD_PASSWORD, bearer, uniqueEmail } from "../../support/auth.js";
import { browserSignIn } from "../../support/browser.js";
import { startTopology, userIdOf, type TestGateway, type TestTopology } from "../../support/gateway.js";

/**
 * The Admin API's effects as a client outside sees them: through the real Envoy and two authz
 * instances, whose session caches only the revocation and user.changed events can explain a change.
 */
describe("admin changes at the Envoy gateway", () => {
  let topo: TestTopology;
  let gw: TestGateway;
  let admin: AdminClient;
  let asAdmin: { headers: { authorization: string } };

  beforeAll(async () => {
    topo = await startTopology();
    gw = await topo.addGateway(2, { AUTHZ_CACHE_TTL: "60s", AUTHZ_ROLE_RULES: "/example/admin=role:admin" });
    admin = adminClient(topo.auth);
    const email = uniqueEmail("gw-admin");
    await topo.auth.client.signUp({ email, password: GOOD_PASSWORD });
    await grantRoleDirectly(topo.auth, email, "admin");
    asAdmin = bearer((await topo.auth.client.signIn({ email, password: GOOD_PASSWORD })).accessToken);
  });
  afterAll(async () => {
    await topo?.close();
  });

  async function person() {
    const email = uniqueEmail("gw-person");
    await gw.client.signUp({ email, password: GOOD_PASSWORD });
    const tokens = await gw.client.signIn({ email, password: GOOD_PASSWORD });
    const cookie = await browserSignIn(topo.auth.server.url, email, GOOD_PASSWORD);
    const credentials: Array<Record<string, string>> = [{ authorization: `Bearer ${tokens.accessToken}` }, { cookie: `auth_session=${cookie}` }];
    return { id: userIdOf(tokens.accessToken), credentials };
  }

  const get = async (path: string, headers: Record<string, string>) => {
    const res = await fetch(`${gw.url}${path}`, { headers });
    await res.arrayBuffer();
    return { status: res.status, reason: res.headers.get("x-auth-reason") };
  };
  /** Enough requests that each of the two authz instances answers some (Envoy balances them). */
  const everyInstance = async (path: string, headers: Record<string, string>) => Promise.all(Array.from({ length: 8 }, () => get(path, headers)));

  it("does not route the Admin API: it lives on the auth service's private port", async () => {
    const res = await fetch(`${gw.url}/auth.admin.v1.AdminService/FindUsers`, { method: "POST", headers: { "content-type": "application/json", ...asAdmin.headers }, body: "{}" });
    expect(res.status).toBe(404);
  });

  it("a role rule answers 403 without the role and 200 with it, from the next request on after a grant or removal", async () => {
    const someone = await person();
    for (const headers of someone.credentials) {
      expect(await everyInstance("/example/admin/panel", headers)).toEqual(Array(8).fill({ status: 403, reason: "missing_role" }));
      expect((await get("/example/hello", headers)).status).toBe(200);
    }
    await admin.grantRole({ userId: someone.id, role: "admin" }, asAdmin);
    for (const headers of someone.credentials) {
      expect((await everyInstance("/example/admin/panel", headers)).map((r) => r.status)).toEqual(Array(8).fill(200));
    }
    await admin.revokeRole({ userId: someone.id, role: "admin" }, asAdmin);
    for (const headers of someone.credentials) {
      expect(await everyInstance("/example/admin/panel", headers)).toEqual(Array(8).fill({ status: 403, reason: "missing_role" }));
    }
  });

  it("DisableUser: the gateway denies the account's token and cookie right after the RPC returns (time printed)", async () => {
    const lags: number[] = [];
    let staleAllows = 0;
    for (let round = 0; round < 5; round++) {
      const someone = await person();
      // Cached as live on both instances first, so only the revocation event can turn them.
      for (const headers of someone.credentials) expect((await everyInstance("/example/hello", headers)).map((r) => r.status)).toEqual(Array(8).fill(200));
      await admin.disableUser({ userId: someone.id }, asAdmin);
      const returned = performance.now();
      for (const headers of someone.credentials) {
        let answer = await get("/example/hello", headers);
        while (answer.status === 200 && performance.now() - returned < 5000) {
          staleAllows += 1;
          answer = await get("/example/hello", headers);
        }
        lags.push(performance.now() - returned);
        expect(answer).toEqual({ status: 401, reason: "session_not_found" });
        // And stays denied on every instance.
        expect((await everyInstance("/example/hello", headers)).map((r) => r.status)).toEqual(Array(8).fill(401));
      }
    }
    const sorted = [...lags].sort((a, b) => a - b);
    console.log(`DisableUser -> first denial at the gateway, ms after the RPC returned, that request's own round trip included (10 credentials): median ${sorted[5]!.toFixed(1)}, max ${sorted.at(-1)!.toFixed(1)}; allowed after the RPC returned: ${staleAllows}`);
  });
});
