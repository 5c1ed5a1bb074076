import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { IssuedRefresh } from "../sessions/session-store.js";
import type { AccessTokens } from "./access-tokens.js";

/** The access token for a new or rotated session, with its refresh token: what every sign-in path answers. */
export async function tokenPair(tokens: AccessTokens, issued: IssuedRefresh) {
  const access = await tokens.issue(issued.session);
  return {
    accessToken: access.token,
    refreshToken: issued.refreshToken,
    sessionId: issued.session.id,
    accessTokenExpiresAt: timestampFromDate(access.expiresAt),
    refreshTokenExpiresAt: timestampFromDate(issued.refreshExpiresAt),
    tokenType: "Bearer",
  };
}
