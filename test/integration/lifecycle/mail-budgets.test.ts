import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_PASSWORD, clientFrom, randomIp, uniqueEmail } from "../../support/auth.js";
import { startMailStack } from "../../support/mail.js";

/** Mail sent on someone else's request spends the recipient's budget, whatever the sender's IP. */
describe("per-recipient mail budgets", () => {
  let stack: Awaited<ReturnType<typeof startMailStack>>;

  beforeAll(async () => {
    stack = await startMailStack({ RATE_LIMIT_MAIL_ACCOUNT: "3/1h" });
  });
  afterAll(async () => stack?.close());

  const outboxFor = async (to: string) =>
    (await stack.primary.query<{ subject: string }>("SELECT subject FROM mail_outbox WHERE recipient = $1 ORDER BY id", [to])).rows.map((r) => r.subject);

  const signUpFromAnywhere = (email: string) =>
    clientFrom(stack.auth, randomIp())
      .signUp({ email, password: GOOD_PASSWORD })
      .then(
        () => "ok",
        (error: unknown) => (error instanceof ConnectError ? Code[error.code] : "error"),
      );

  it("sign-ups with a taken address from many IPs mail its owner only as often as the budget allows", async () => {
    const email = uniqueEmail("flooded");
    await signUpFromAnywhere(email);
    for (let i = 0; i < 7; i++) await signUpFromAnywhere(email);
    const notices = (await outboxFor(email)).filter((s) => /tried to sign up/.test(s));
    expect(notices).toHaveLength(2);
  });

  it("sign-ups naming an address cannot spend its reset budget: the owner still gets a reset link", async () => {
    const email = uniqueEmail("kept-out");
    await signUpFromAnywhere(email);
    // The address's notice budget spent by others, as an attacker keeping its owner out would.
    for (let i = 0; i < 5; i++) await signUpFromAnywhere(email);
    expect(await signUpFromAnywhere(email)).toBe("ResourceExhausted");
    await clientFrom(stack.auth, randomIp()).requestPasswordReset({ email });
    expect((await outboxFor(email)).filter((s) => /reset/i.test(s))).toHaveLength(1);
  });

  it("a new address spends the same budget, so the limit does not tell a taken address from a new one", async () => {
    const existing = uniqueEmail("existing");
    // An account made without any sign-up mail, so its budget is untouched like a new address's.
    await stack.primary.query("INSERT INTO users (email, password_hash) VALUES ($1, 'x')", [existing]);
    const fresh = uniqueEmail("fresh");
    const answers = async (email: string) => {
      const out: string[] = [];
      for (let i = 0; i < 4; i++) out.push(await signUpFromAnywhere(email));
      return out;
    };
    const forExisting = await answers(existing);
    expect(forExisting).toEqual(["ok", "ok", "ok", "ResourceExhausted"]);
    expect(await answers(fresh)).toEqual(forExisting);
  });
});
