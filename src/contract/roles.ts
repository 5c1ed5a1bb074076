/**
 * Role names as Postgres (user_roles.role), the access token's `roles` claim, the Redis copy and the
 * Check's AUTHZ_ROLE_RULES spell them: lower case, so a rule and a grant can never differ by case.
 */
export const ROLE_FORMAT = /^[a-z][a-z0-9_.-]{0,62}$/;

/** The role the Admin API (auth.admin.v1.AdminService) requires of its callers. */
export const ADMIN_ROLE = "admin";

/** The roles in a list, in order, keeping only well-formed names: anything else is not a role. */
export const wellFormedRoles = (values: readonly unknown[]): string[] =>
  [...new Set(values.filter((v): v is string => typeof v === "string" && ROLE_FORMAT.test(v)))];
