import { Code, createClient, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PasskeyService } from "../../../src/gen/auth/v1/passkeys_pb.js";
import { GOOD_PASSWORD, type TestAuth, bearer, markEmailVerified, newUser, startTestAuth } from "../../support/auth.js";
import { rejection } from "../../support/rpc-errors.js";

/** A response as a browser would shape it, signing `challenge`, with a signature that proves nothing. */
function forgedAssertion(challenge: string, origin = "http://127.0.0.1:8080") {
  const clientDataJSON = Buffer.from(JSON.stringify({ type: "webauthn.get", challenge, origin })).toString("base64url");
  return JSON.stringify({
    id: "AAAAAAAAAAAAAAAAAAAAAA",
    rawId: "AAAAAAAAAAAAAAAAAAAAAA",
    type: "public-key",
    response: { clientDataJSON, authenticatorData: "AAAA", signature: "AAAA" },
    clientExtensionResults: {},
  });
}

/** PasskeyService over Connect: who may call what, hostile input, and challenges that work once on any instance. */
describe("PasskeyService", () => {
  let auth: TestAuth;
  let peer: TestAuth;
  let passkeys: Client<typeof PasskeyService>;
  let onPeer: Client<typeof PasskeyService>;

  beforeAll(async () => {
    auth = await startTestAuth();
    peer = await startTestAuth({}, { skipMigrations: true });
    passkeys = createClient(PasskeyService, auth.transport);
    onPeer = createClient(PasskeyService, peer.transport);
  });
  afterAll(async () => {
    await peer?.close();
    await auth?.close();
  });

  it("refuses the account RPCs without a live session", async () => {
    for (const call of [
      () => passkeys.beginPasskeyRegistration({}),
      () => passkeys.finishPasskeyRegistration({ responseJson: "{}" }),
      () => passkeys.listPasskeys({}),
      () => passkeys.deletePasskey({ passkeyId: "00000000-0000-0000-0000-000000000000" }),
      () => passkeys.listPasskeys({}, bearer("not.a.token")),
    ]) {
      expect((await rejection(call())).code).toBe(Code.Unauthenticated);
    }
  });

  it("asks for a verified email and a recent proof before a passkey can be added", async () => {
    const { email, tokens } = await newUser(auth.client);
    expect((await rejection(passkeys.beginPasskeyRegistration({}, bearer(tokens.accessToken)))).code).toBe(Code.FailedPrecondition);
    await markEmailVerified(auth, email);
    expect((await rejection(passkeys.beginPasskeyRegistration({ currentPassword: "wrong password" }, bearer(tokens.accessToken)))).code).toBe(Code.PermissionDenied);
    const { optionsJson } = await passkeys.beginPasskeyRegistration({ currentPassword: GOOD_PASSWORD }, bearer(tokens.accessToken));
    const options = JSON.parse(optionsJson);
    expect(options).toMatchObject({ rp: { id: "127.0.0.1" }, user: { name: email }, attestation: "none", authenticatorSelection: { residentKey: "required" } });
    await expect(passkeys.listPasskeys({}, bearer(tokens.accessToken))).resolves.toMatchObject({ passkeys: [] });
  });

  it("answers malformed, oversized and hostile input with INVALID_ARGUMENT, naming the field", async () => {
    const { tokens } = await newUser(auth.client);
    const as = bearer(tokens.accessToken);
    // Thunks: a call starts only when its turn comes, so no refusal waits unobserved.
    const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
      ["empty", () => passkeys.completePasskeySignIn({ responseJson: "" }), /response_json is required/],
      ["not json", () => passkeys.completePasskeySignIn({ responseJson: "{nope" }), /not JSON/],
      ["oversized", () => passkeys.completePasskeySignIn({ responseJson: JSON.stringify({ id: "a".repeat(20_000) }) }), /longer than/],
      ["array", () => passkeys.completePasskeySignIn({ responseJson: "[]" }), /response_json.id/],
      ["hostile id", () => passkeys.completePasskeySignIn({ responseJson: JSON.stringify({ id: "<script>", type: "public-key" }) }), /response_json.id/],
      ["wrong type", () => passkeys.completePasskeySignIn({ responseJson: JSON.stringify({ id: "AAAA", type: "password" }) }), /type must be/],
      ["no client data", () => passkeys.completePasskeySignIn({ responseJson: JSON.stringify({ id: "AAAA", type: "public-key", response: {} }) }), /clientDataJSON must be base64url/],
      [
        "client data not json",
        () => passkeys.completePasskeySignIn({ responseJson: JSON.stringify({ id: "AAAA", type: "public-key", response: { clientDataJSON: "bm9wZQ" } }) }),
        /clientDataJSON is not JSON/,
      ],
      ["registration not json", () => passkeys.finishPasskeyRegistration({ responseJson: "nope" }, as), /not JSON/],
      ["name too long", () => passkeys.finishPasskeyRegistration({ responseJson: "{}", name: "x".repeat(65) }, as), /name is longer than 64/],
      ["name with controls", () => passkeys.finishPasskeyRegistration({ responseJson: "{}", name: "evil\u202e" }, as), /control or format/],
      ["passkey id", () => passkeys.deletePasskey({ passkeyId: "../../etc" }, as), /passkey_id is not a valid/],
    ];
    for (const [what, call, message] of cases) {
      const error = await rejection(call());
      expect(error.code, what).toBe(Code.InvalidArgument);
      expect(error.rawMessage, what).toMatch(message);
    }
    expect((await rejection(passkeys.deletePasskey({ passkeyId: "00000000-0000-0000-0000-000000000000" }, as))).code).toBe(Code.NotFound);
  });

  it("spends a sign-in challenge on its first use, on whichever instance, even when that use fails", async () => {
    const { challenge } = JSON.parse((await passkeys.beginPasskeySignIn({})).optionsJson) as { challenge: string };
    // Issued by one instance, answered at the other: the first answer takes the challenge (and fails, it is forged).
    const first = await rejection(onPeer.completePasskeySignIn({ responseJson: forgedAssertion(challenge) }));
    expect(first.code).toBe(Code.Unauthenticated);
    expect(first.rawMessage).toMatch(/passkey not recognised/);
    for (const client of [passkeys, onPeer]) {
      const again = await rejection(client.completePasskeySignIn({ responseJson: forgedAssertion(challenge) }));
      expect(again.code).toBe(Code.Unauthenticated);
      expect(again.rawMessage).toMatch(/already used or has expired/);
    }
    // A challenge we never issued, and one issued for another purpose, are refused alike.
    expect((await rejection(passkeys.completePasskeySignIn({ responseJson: forgedAssertion("A".repeat(43)) }))).rawMessage).toMatch(/already used/);
    const { tokens, email } = await newUser(auth.client);
    await markEmailVerified(auth, email);
    const registration = JSON.parse((await passkeys.beginPasskeyRegistration({}, bearer(tokens.accessToken))).optionsJson) as { challenge: string };
    expect((await rejection(passkeys.completePasskeySignIn({ responseJson: forgedAssertion(registration.challenge) }))).rawMessage).toMatch(/already used/);
  });

  it("offers the second step only for a live sign-in challenge of an account with a passkey", async () => {
    expect((await rejection(passkeys.beginPasskeySignIn({ mfaChallenge: "bogus" }))).code).toBe(Code.Unauthenticated);
    expect((await rejection(passkeys.completePasskeySignIn({ mfaChallenge: "bogus", responseJson: forgedAssertion("A".repeat(43)) }))).code).toBe(Code.Unauthenticated);
  });
});
