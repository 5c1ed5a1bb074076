import { describe, expect, it } from "vitest";
import { loadAuthConfig } from "../../../src/auth/config.js";
import { problemsOf } from "../../support/config-problems.js";

const KEY = Buffer.alloc(32, 7).toString("base64");
const minimal = { DATABASE_URL: "postgres://auth:auth@127.0.0.1:5432/auth", REDIS_URL: "redis://127.0.0.1:6379", SIGNING_KEY_ENCRYPTION_KEY: KEY };
const secrets = (id: string) => ({ [`SOCIAL_${id}_CLIENT_ID`]: `${id.toLowerCase()}-client`, [`SOCIAL_${id}_CLIENT_SECRET`]: "s3cret" });

const providers = (env: Record<string, string>) => loadAuthConfig({ ...minimal, ...env }).social.providers;
const problems = (env: Record<string, string>) => problemsOf(() => loadAuthConfig({ ...minimal, ...env }));

describe("social sign-in config", () => {
  it("is off by default", () => {
    expect(providers({})).toEqual([]);
  });

  it("fills the presets: Google, Microsoft (tenant common by default), GitHub (OAuth endpoints and its API)", () => {
    const found = providers({ SOCIAL_PROVIDERS: "google, microsoft,github", ...secrets("GOOGLE"), ...secrets("MICROSOFT"), ...secrets("GITHUB") });
    expect(found).toMatchObject([
      { id: "google", label: "Google", protocol: "oidc", issuer: "https://accounts.google.com", scopes: "openid email profile", clientId: "google-client", allowHttp: false },
      { id: "microsoft", label: "Microsoft", protocol: "oidc", issuer: "https://login.microsoftonline.com/common/v2.0" },
      { id: "github", label: "GitHub", protocol: "github", issuer: "https://github.com", apiUrl: "https://api.github.com", scopes: "read:user user:email" },
    ]);
    expect(providers({ SOCIAL_PROVIDERS: "microsoft", SOCIAL_MICROSOFT_TENANT: "contoso.onmicrosoft.com", ...secrets("MICROSOFT") })[0]?.issuer).toBe(
      "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0",
    );
  });

  it("reads a generic OpenID Provider by its issuer, and lets a loopback issuer use http", () => {
    expect(providers({ SOCIAL_PROVIDERS: "acme-sso", SOCIAL_ACME_SSO_ISSUER: "https://sso.acme.example/", SOCIAL_ACME_SSO_LABEL: "Acme", ...secrets("ACME_SSO") })).toMatchObject([
      { id: "acme-sso", label: "Acme", protocol: "oidc", issuer: "https://sso.acme.example", allowHttp: false },
    ]);
    expect(providers({ SOCIAL_PROVIDERS: "google", SOCIAL_GOOGLE_ISSUER: "http://127.0.0.1:4000", ...secrets("GOOGLE") })[0]).toMatchObject({ issuer: "http://127.0.0.1:4000", allowHttp: true });
  });

  it("names every bad variable at once", () => {
    expect(
      problems({
        SOCIAL_PROVIDERS: "google,Bad_Id,acme,google,github,microsoft",
        SOCIAL_GOOGLE_CLIENT_ID: "x",
        SOCIAL_GOOGLE_SCOPES: "email profile",
        SOCIAL_ACME_ISSUER: "http://sso.acme.example",
        ...secrets("ACME"),
        ...secrets("GITHUB"),
        SOCIAL_GITHUB_API_URL: "ftp://api.example",
        ...secrets("MICROSOFT"),
        SOCIAL_MICROSOFT_TENANT: "../evil",
      }),
    ).toEqual([
      'SOCIAL_GOOGLE_CLIENT_SECRET is required for social provider "google"',
      "SOCIAL_GOOGLE_SCOPES must include openid",
      'SOCIAL_PROVIDERS: "Bad_Id" must be lower case letters, digits and "-", at most 32, starting with a letter',
      "SOCIAL_ACME_ISSUER must use https:// (http:// only on a loopback address), got http://",
      'SOCIAL_PROVIDERS names "google" twice',
      "SOCIAL_GITHUB_API_URL must use https:// (http:// only on a loopback address), got ftp://",
      'SOCIAL_MICROSOFT_TENANT must be a tenant id, a domain, common, organizations or consumers; got "../evil"',
    ]);
    expect(problems({ SOCIAL_PROVIDERS: "acme", ...secrets("ACME") })).toEqual(['SOCIAL_ACME_ISSUER is required for social provider "acme"']);
    expect(problems({ SOCIAL_PROVIDERS: "link", ...secrets("LINK"), SOCIAL_LINK_ISSUER: "https://sso.example" })).toEqual([
      'SOCIAL_PROVIDERS: "link" is reserved (/signin/social/link is the linking page)',
    ]);
  });
});
