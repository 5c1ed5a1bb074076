import { randomUUID } from "node:crypto";
import http from "node:http";
import { decodeJwt, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from "jose";
import Provider from "oidc-provider";
import { findFreePort } from "../../src/stack/ports.js";
import { uniqueEmail } from "./auth.js";

/** Who signs in at the stand-in's next login: the test chooses the claims. */
export interface StandInAccount {
  sub: string;
  email?: string;
  email_verified?: boolean;
}

/** How the stand-in spoils its next token response, for the checks that must refuse it. */
export type Tamper = "nonce" | "signature" | undefined;

export const STAND_IN_CLIENT = { id: "platform-client", secret: "stand-in-client-secret-of-enough-length" };

/**
 * A second OpenID Provider on 127.0.0.1 standing in for Google: oidc-provider, as we run it
 * ourselves, with our callback registered, logins and consents answered at once for the account
 * the test sets in `next`, and `deny` answering the next authorization with access_denied.
 */
export async function startStandInProvider(redirectUri: string) {
  const port = await findFreePort();
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid: "stand-in", alg: "RS256", use: "sig" };
  const accounts = new Map<string, StandInAccount>();
  // loginPage: the login prompt shows a page with a button (for a real browser) instead of answering at once.
  const control: { next: StandInAccount | undefined; deny: boolean; tamper: Tamper; loginPage: boolean } = { next: undefined, deny: false, tamper: undefined, loginPage: false };

  const provider = new Provider(issuer, {
    clients: [{ client_id: STAND_IN_CLIENT.id, client_secret: STAND_IN_CLIENT.secret, redirect_uris: [redirectUri], token_endpoint_auth_method: "client_secret_post" }],
    jwks: { keys: [jwk] },
    claims: { openid: ["sub"], email: ["email", "email_verified"] },
    // Scope claims in the ID token, as Google puts them there.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: ["stand-in-cookie-key"] },
    // Explicit, so oidc-provider does not print a notice per artifact kind into every test's output.
    ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 600, IdToken: 600, Interaction: 600, Session: 600 },
    async findAccount(_ctx, id) {
      const account = accounts.get(id);
      return account && { accountId: id, claims: async () => ({ ...account }) };
    },
  });
  const signingKey = await importJWK(jwk, "RS256");
  const { privateKey: foreignKey } = await generateKeyPair("RS256");

  async function spoil(idToken: string): Promise<string> {
    const claims = decodeJwt(idToken);
    const key = control.tamper === "signature" ? foreignKey : signingKey;
    const nonce = control.tamper === "nonce" ? "not-the-nonce-of-this-flow" : claims.nonce;
    control.tamper = undefined;
    return new SignJWT({ ...claims, nonce }).setProtectedHeader({ alg: "RS256", kid: "stand-in" }).sign(key);
  }

  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body as { id_token?: string } | undefined;
    if (ctx.path === "/token" && control.tamper && body?.id_token) ctx.body = { ...body, id_token: await spoil(body.id_token) };
  });

  const callback = provider.callback();
  const server = http.createServer((req, res) => {
    if (!req.url?.startsWith("/interaction/")) return void callback(req, res);
    void (async () => {
      const details = await provider.interactionDetails(req, res);
      if (control.deny) {
        control.deny = false;
        return provider.interactionFinished(req, res, { error: "access_denied", error_description: "The user said no" }, { mergeWithLastSubmission: false });
      }
      if (details.prompt.name === "login") {
        const account = control.next;
        if (!account) throw new Error("the test set no stand-in account");
        if (control.loginPage && req.method === "GET") {
          res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
          return void res.end(`<!doctype html><title>Stand-in Google</title><h1>Stand-in Google</h1><p>${account.sub}</p><form method="post"><button type="submit">Sign in</button></form>`);
        }
        accounts.set(account.sub, account);
        return provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
      }
      const grant = new provider.Grant({ accountId: details.session?.accountId ?? "", clientId: String(details.params.client_id) });
      grant.addOIDCScope(String(details.params.scope));
      return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
    })().catch(() => {
      res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    issuer,
    control,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A cookie-keeping browser over fetch for absolute URLs on 127.0.0.1 (cookies are per host, not per port, as in browsers). */
export function hostBrowser() {
  const jar = new Map<string, string>();
  const remember = (res: Response) => {
    for (const line of res.headers.getSetCookie()) {
      const [pair = ""] = line.split(";");
      const eq = pair.indexOf("=");
      const value = pair.slice(eq + 1).trim();
      if (eq > 0) value && !/max-age=0/i.test(line) ? jar.set(pair.slice(0, eq).trim(), value) : jar.delete(pair.slice(0, eq).trim());
    }
    return res;
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
  const get = async (url: string) => remember(await fetch(url, { headers: { cookie: cookie(), accept: "text/html" }, redirect: "manual" }));
  return {
    jar,
    get,
    post: async (url: string, form: Record<string, string>) =>
      remember(await fetch(url, { method: "POST", headers: { cookie: cookie(), "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form).toString(), redirect: "manual" })),
    /** Follows redirects from `url` until one leads to a path starting with `stopAt`: that URL, unvisited. */
    async until(url: string, stopAt: string): Promise<URL> {
      let next = new URL(url);
      for (let hop = 0; hop < 15; hop++) {
        if (next.pathname.startsWith(stopAt)) return next;
        const res = await get(next.href);
        const location = res.headers.get("location");
        if (!location) throw new Error(`${next.href} answered ${res.status} without a redirect: ${(await res.text()).slice(0, 300)}`);
        next = new URL(location, next);
      }
      throw new Error("too many redirects");
    },
  };
}

export type StandInProvider = Awaited<ReturnType<typeof startStandInProvider>>;

/** A fresh person at the stand-in: a new subject and address, verified unless `claims` say otherwise. */
export const someone = (claims: { email_verified?: boolean; email?: string } = {}) => ({ sub: randomUUID(), email: uniqueEmail("social"), email_verified: true, ...claims });
export type Someone = ReturnType<typeof someone>;

/** Sign-ins at our `base` through a stand-in `provider` configured as `id`, each in a fresh browser, as the account it is given. */
export function standInSignIns<A = Someone>(base: string, provider: { control: { next: A | undefined } }, id = "google") {
  /** Starts a sign-in as `account`: the browser and the callback URL it was sent to (not yet opened). */
  async function toCallback(account: A, returnTo = "/example/") {
    provider.control.next = account;
    const b = hostBrowser();
    const callback = await b.until(`${base}/signin/social/${id}?return_to=${encodeURIComponent(returnTo)}`, `/signin/social/${id}/callback`);
    return { b, callback };
  }
  async function signInWith(account: A) {
    const { b, callback } = await toCallback(account);
    const res = await b.get(callback.href);
    return { b, res, body: res.status === 303 ? "" : await res.text() };
  }
  return { toCallback, signInWith };
}

export type StandInSignIns<A = Someone> = ReturnType<typeof standInSignIns<A>>;
