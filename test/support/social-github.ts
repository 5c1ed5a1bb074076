import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import { findFreePort } from "../../src/stack/ports.js";

/** A GitHub user as the stand-in's next authorization signs them in: GET /user's id and GET /user/emails. */
export interface GitHubAccount {
  id: number;
  emails: Array<{ email: string; primary: boolean; verified: boolean }>;
}

export const GITHUB_CLIENT = { id: "Iv1.platformclient", secret: "github-stand-in-client-secret" };

/** Where the stand-in serves the REST API, as a GitHub Enterprise Server does: SOCIAL_GITHUB_API_URL is the base plus this. */
const API_PREFIX = "/api/v3";

/**
 * GitHub's OAuth web flow and the two API calls the preset makes, on 127.0.0.1: GET
 * /login/oauth/authorize answers at once for the account in `control.next`; POST
 * /login/oauth/access_token checks the client secret, the redirect URI and PKCE (S256), as
 * GitHub does; GET {API}/user and {API}/user/emails answer for the token's account.
 */
export async function startGitHubStandIn(redirectUri: string) {
  const port = await findFreePort();
  const url = `http://127.0.0.1:${port}`;
  const control: { next: GitHubAccount | undefined } = { next: undefined };
  const codes = new Map<string, { account: GitHubAccount; challenge: string }>();
  const tokens = new Map<string, GitHubAccount>();

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  };
  const readBody = async (req: http.IncomingMessage) => {
    let text = "";
    for await (const chunk of req) text += chunk;
    return new URLSearchParams(text);
  };
  const s256 = (verifier: string) => createHash("sha256").update(verifier).digest("base64url");

  async function answer(req: http.IncomingMessage, res: http.ServerResponse) {
    const at = new URL(req.url ?? "/", url);
    if (req.method === "GET" && at.pathname === "/login/oauth/authorize") {
      const account = control.next;
      if (!account || at.searchParams.get("client_id") !== GITHUB_CLIENT.id || at.searchParams.get("redirect_uri") !== redirectUri) return json(res, 400, { error: "bad_request" });
      if (at.searchParams.get("code_challenge_method") !== "S256") return json(res, 400, { error: "pkce_required" });
      const code = randomBytes(10).toString("hex");
      codes.set(code, { account, challenge: at.searchParams.get("code_challenge") ?? "" });
      const back = new URL(redirectUri);
      back.searchParams.set("code", code);
      back.searchParams.set("state", at.searchParams.get("state") ?? "");
      return void res.writeHead(302, { location: back.href }).end();
    }
    if (req.method === "POST" && at.pathname === "/login/oauth/access_token") {
      const form = await readBody(req);
      const grant = codes.get(form.get("code") ?? "");
      codes.delete(form.get("code") ?? "");
      if (form.get("client_id") !== GITHUB_CLIENT.id || form.get("client_secret") !== GITHUB_CLIENT.secret) return json(res, 401, { error: "incorrect_client_credentials" });
      if (!grant || form.get("redirect_uri") !== redirectUri || s256(form.get("code_verifier") ?? "") !== grant.challenge) return json(res, 400, { error: "bad_verification_code" });
      const token = `gho_${randomBytes(16).toString("hex")}`;
      tokens.set(token, grant.account);
      return json(res, 200, { access_token: token, token_type: "bearer", scope: "read:user,user:email" });
    }
    const account = tokens.get((req.headers.authorization ?? "").replace(/^(bearer|token) /i, ""));
    if (req.method === "GET" && at.pathname.startsWith(`${API_PREFIX}/user`)) {
      if (!account) return json(res, 401, { message: "Bad credentials" });
      if (at.pathname === `${API_PREFIX}/user`) return json(res, 200, { id: account.id, login: `user${account.id}` });
      if (at.pathname === `${API_PREFIX}/user/emails`) return json(res, 200, account.emails.map((e) => ({ ...e, visibility: e.primary ? "private" : null })));
    }
    json(res, 404, { message: "Not Found" });
  }

  const server = http.createServer((req, res) => {
    answer(req, res).catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    env: { SOCIAL_GITHUB_URL: url, SOCIAL_GITHUB_API_URL: `${url}${API_PREFIX}`, SOCIAL_GITHUB_CLIENT_ID: GITHUB_CLIENT.id, SOCIAL_GITHUB_CLIENT_SECRET: GITHUB_CLIENT.secret },
    control,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
