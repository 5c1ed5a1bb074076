import { parseArgs } from "node:util";
import { DomainError } from "../../platform/errors.js";
import type { ClientAdmin } from "./client-admin.js";

export const OAUTH_USAGE = `usage: npm run oauth -- <command>
  create-client --name N --grant <authorization_code|client_credentials|refresh_token>... [--redirect-uri U]...
                [--post-logout-redirect-uri U]... [--scope S]... [--public] [--jwks FILE_OR_JSON]
  list
  rotate-secret <client_id>
  delete <client_id>`;

export class UsageError extends Error {}

/** Runs one `npm run oauth` command and returns the lines it prints (KEY=value lines a shell can source). */
export async function runOAuthCommand(argv: string[], admin: ClientAdmin, readFile: (path: string) => string): Promise<string[]> {
  const [command, ...rest] = argv;
  if (command === "create-client") {
    let parsed;
    try {
      parsed = parseArgs({
        args: rest,
        strict: true,
        options: {
          name: { type: "string" },
          grant: { type: "string", multiple: true },
          "redirect-uri": { type: "string", multiple: true },
          "post-logout-redirect-uri": { type: "string", multiple: true },
          scope: { type: "string", multiple: true },
          public: { type: "boolean" },
          jwks: { type: "string" },
        },
      }).values;
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (!parsed.name) throw new UsageError("--name is required");
    const jwks = parsed.jwks === undefined ? undefined : JSON.parse(parsed.jwks.trimStart().startsWith("{") ? parsed.jwks : readFile(parsed.jwks));
    const created = await admin.create({
      name: parsed.name,
      grantTypes: parsed.grant ?? [],
      redirectUris: parsed["redirect-uri"] ?? [],
      postLogoutRedirectUris: parsed["post-logout-redirect-uri"] ?? [],
      scopes: (parsed.scope ?? []).flatMap((s) => s.split(" ").filter(Boolean)),
      public: parsed.public ?? false,
      ...(jwks ? { jwks } : {}),
    });
    return [`CLIENT_ID=${created.clientId}`, ...(created.secret ? [`CLIENT_SECRET=${created.secret}`] : [])];
  }
  if (command === "list") {
    return (await admin.list()).map(
      (c) => `${c.clientId}\t${c.name}\tgrants=${c.grantTypes.join(",")}\tauth=${c.authMethod}\tscopes=${c.scopes.join(",")}\tredirect_uris=${c.redirectUris.join(",")}`,
    );
  }
  if ((command === "rotate-secret" || command === "delete") && rest.length === 1) {
    const clientId = rest[0]!;
    if (command === "rotate-secret") return [`CLIENT_ID=${clientId}`, `CLIENT_SECRET=${await admin.rotateSecret(clientId)}`];
    if (!(await admin.remove(clientId))) throw new DomainError("not_found", "no such OAuth client");
    return [`DELETED=${clientId}`];
  }
  throw new UsageError(command ? `unknown command or arguments: ${argv.join(" ").slice(0, 200)}` : "no command given");
}
