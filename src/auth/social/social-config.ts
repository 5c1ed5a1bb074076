import type { EnvReader } from "../../platform/config.js";

/** How the provider proves who the user is: an OpenID Provider's ID token, or GitHub's OAuth 2.0 and its user API. */
export type SocialProtocol = "oidc" | "github";

export interface SocialProvider {
  /** The id in SOCIAL_PROVIDERS and in the URLs (/signin/social/<id>). */
  id: string;
  /** SOCIAL_<ID>_LABEL: the name on the "Continue with ..." button. Default the preset's name, else the id. */
  label: string;
  protocol: SocialProtocol;
  /** SOCIAL_<ID>_CLIENT_ID. Required. */
  clientId: string;
  /** SOCIAL_<ID>_CLIENT_SECRET. Required. */
  clientSecret: string;
  /**
   * oidc: SOCIAL_<ID>_ISSUER, discovered at <issuer>/.well-known/openid-configuration. github: the web
   * origin of the OAuth endpoints, SOCIAL_GITHUB_URL (default https://github.com; a GitHub Enterprise
   * Server's own URL otherwise).
   */
  issuer: string;
  /** github only: SOCIAL_GITHUB_API_URL, where /user and /user/emails are (default https://api.github.com). */
  apiUrl: string | undefined;
  /** SOCIAL_<ID>_SCOPES (space separated). Default "openid email profile"; GitHub "read:user user:email". */
  scopes: string;
  /** Whether plain HTTP is allowed: only to a provider on a loopback address (tests, a local provider). */
  allowHttp: boolean;
}

export interface SocialConfig {
  /** SOCIAL_PROVIDERS: comma separated ids, in the order their buttons show. Default none. */
  providers: SocialProvider[];
}

const ID = /^[a-z][a-z0-9-]{0,31}$/;
const TENANT = /^[A-Za-z0-9.-]{1,64}$/;
const SCOPES = /^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/;
const LOOPBACK = new Set(["127.0.0.1", "[::1]", "localhost"]);

interface Preset {
  label: string;
  protocol: SocialProtocol;
  issuer(read: EnvReader): string;
}

const PRESETS: Record<string, Preset> = {
  google: { label: "Google", protocol: "oidc", issuer: () => "https://accounts.google.com" },
  microsoft: {
    label: "Microsoft",
    protocol: "oidc",
    // "common" (any work, school or personal account) is the default. Its discovery document names
    // the issuer https://login.microsoftonline.com/{tenantid}/v2.0: openid-client then expects each ID
    // token's iss to be that with the token's own tid, which is the check Microsoft documents.
    issuer(read) {
      const tenant = read.string("SOCIAL_MICROSOFT_TENANT", "common");
      if (!TENANT.test(tenant)) read.report(`SOCIAL_MICROSOFT_TENANT must be a tenant id, a domain, common, organizations or consumers; got "${tenant}"`);
      return `https://login.microsoftonline.com/${tenant}/v2.0`;
    },
  },
  github: { label: "GitHub", protocol: "github", issuer: (read) => read.string("SOCIAL_GITHUB_URL", "https://github.com") },
};

const prefixOf = (id: string) => `SOCIAL_${id.toUpperCase().replaceAll("-", "_")}`;

/** A provider URL: https, or http on a loopback host; undefined (with a problem naming `name`) otherwise. */
function providerUrl(read: EnvReader, name: string, value: string): { url: string; http: boolean } | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    read.report(`${name} is not a valid URL`);
    return undefined;
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && LOOPBACK.has(url.hostname))) {
    read.report(`${name} must use https:// (http:// only on a loopback address), got ${url.protocol}//`);
    return undefined;
  }
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    read.report(`${name} must have no query, fragment or credentials`);
    return undefined;
  }
  return { url: value.replace(/\/+$/, ""), http: url.protocol === "http:" };
}

function readProvider(read: EnvReader, id: string): SocialProvider | undefined {
  const prefix = prefixOf(id);
  const preset = PRESETS[id];
  const required = (name: string) => {
    if (!read.isSet(name)) read.report(`${name} is required for social provider "${id}"`);
    return read.string(name, "");
  };
  const clientId = required(`${prefix}_CLIENT_ID`);
  const clientSecret = required(`${prefix}_CLIENT_SECRET`);
  // A preset's issuer may be replaced (a stand-in provider, a sovereign cloud); a generic provider must name one.
  const issuerName = preset?.protocol === "github" ? "SOCIAL_GITHUB_URL" : `${prefix}_ISSUER`;
  const issuerValue = read.isSet(issuerName) || !preset ? required(issuerName) : preset.issuer(read);
  const issuer = issuerValue === "" ? undefined : providerUrl(read, issuerName, issuerValue);
  const protocol = preset?.protocol ?? "oidc";
  const api = protocol === "github" ? providerUrl(read, "SOCIAL_GITHUB_API_URL", read.string("SOCIAL_GITHUB_API_URL", "https://api.github.com")) : undefined;
  const scopes = read.string(`${prefix}_SCOPES`, protocol === "github" ? "read:user user:email" : "openid email profile");
  if (!SCOPES.test(scopes)) read.report(`${prefix}_SCOPES must be scope tokens separated by single spaces (RFC 6749 3.3)`);
  else if (protocol === "oidc" && !scopes.split(" ").includes("openid")) read.report(`${prefix}_SCOPES must include openid`);
  const label = read.string(`${prefix}_LABEL`, preset?.label ?? id);
  if (label.length > 40 || /[\p{Cc}\p{Cf}]/u.test(label)) read.report(`${prefix}_LABEL must be at most 40 characters, without control characters`);
  if (!issuer || (protocol === "github" && !api)) return undefined;
  return { id, label, protocol, clientId, clientSecret, issuer: issuer.url, apiUrl: api?.url, scopes, allowHttp: issuer.http || api?.http === true };
}

/** The social sign-in providers from SOCIAL_* variables; every problem is reported through `read`. */
export function readSocialConfig(read: EnvReader): SocialConfig {
  const ids = read.list("SOCIAL_PROVIDERS");
  const providers: SocialProvider[] = [];
  for (const [index, id] of ids.entries()) {
    if (!ID.test(id)) {
      read.report(`SOCIAL_PROVIDERS: "${id}" must be lower case letters, digits and "-", at most 32, starting with a letter`);
      continue;
    }
    if (id === "link") {
      read.report(`SOCIAL_PROVIDERS: "link" is reserved (/signin/social/link is the linking page)`);
      continue;
    }
    if (ids.indexOf(id) !== index) {
      read.report(`SOCIAL_PROVIDERS names "${id}" twice`);
      continue;
    }
    const provider = readProvider(read, id);
    if (provider) providers.push(provider);
  }
  return { providers };
}
