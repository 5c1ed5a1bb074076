import type { HandlerContext } from "@connectrpc/connect";
import { DomainError } from "../platform/errors.js";
import type { RequestAudit } from "./audit/request-audit.js";
import type { Authenticator, Caller } from "./authenticate.js";
import type { PasswordHasher } from "./passwords/password-hasher.js";
import type { User, UserStore } from "./users/user-store.js";

export interface ActiveCaller extends Caller {
  user: User;
}

/**
 * The caller and their account, read from the primary: a live session is not enough
 * to change an account that has been disabled or deleted since it was opened.
 */
export async function activeCaller(
  deps: { authenticator: Authenticator; users: Pick<UserStore, "findById"> },
  ctx: HandlerContext,
): Promise<ActiveCaller> {
  const who = await deps.authenticator.authenticate(ctx.requestHeader.get("authorization"));
  const user = await deps.users.findById(who.userId);
  if (!user || user.disabled) throw new DomainError("unauthenticated", "account is not active");
  return { ...who, user };
}

/**
 * A stolen access token alone must not change credentials: the current password is asked for,
 * and a wrong one is audited as a failed sign-in made `during` that change.
 */
export async function requireCurrentPassword(
  deps: { hasher: PasswordHasher; audit: RequestAudit },
  ctx: HandlerContext,
  user: User,
  password: string,
  during: string,
): Promise<void> {
  if (await deps.hasher.verify(user.passwordHash, password)) return;
  await deps.audit(ctx, { type: "signin.failure", userId: user.id, details: { reason: "wrong_current_password", during } });
  throw new DomainError("permission_denied", "current password is incorrect");
}
