import type { Mail } from "./mail.js";

export interface MailTemplatesDeps {
  /** PUBLIC_BASE_URL: links are built from config only, so a forged Host header cannot redirect a token. */
  publicBaseUrl: string;
}

/** "30 minutes", "24 hours": how a person would say the link's lifetime. */
function lifetime(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes % 60 !== 0) return `${minutes} minute${minutes === 1 ? "" : "s"}`;
  const hours = minutes / 60;
  return `${hours} hour${hours === 1 ? "" : "s"}`;
}
const notYou = "If this was not you, reset your password now and review your active sessions.";

/** "n***@example.com": mail to the old address may be read by someone other than the owner; enough to recognise the address, not to learn it. */
function masked(email: string): string {
  const at = email.lastIndexOf("@");
  return `${[...email.slice(0, at)][0] ?? ""}***${email.slice(at)}`;
}

export function createMailTemplates(deps: MailTemplatesDeps) {
  // The token travels in the fragment, which browsers never send to servers or in Referer headers.
  const link = (path: string, token: string) => `${deps.publicBaseUrl}${path}#token=${token}`;
  return {
    verifyEmail: (to: string, token: string, ttlMs: number): Mail => ({
      to,
      priority: "link",
      subject: "Confirm your email address",
      text: [
        "Hello,",
        "",
        "Please confirm that this is your email address by opening this link:",
        "",
        link("/verify-email", token),
        "",
        `The link works once and expires in ${lifetime(ttlMs)}.`,
        "If you did not create an account, you can ignore this message.",
      ].join("\n"),
    }),
    resetPassword: (to: string, token: string, ttlMs: number): Mail => ({
      to,
      priority: "link",
      subject: "Reset your password",
      text: [
        "Hello,",
        "",
        "Someone asked to reset the password of your account. To choose a new one, open this link:",
        "",
        link("/reset-password", token),
        "",
        `The link works once and expires in ${lifetime(ttlMs)}.`,
        "If you did not ask for this, ignore this message: your password stays as it is.",
      ].join("\n"),
    }),
    linkSocialSignIn: (to: string, token: string, ttlMs: number, provider: string): Mail => ({
      to,
      priority: "link",
      subject: `Link ${provider} to your account`,
      text: [
        "Hello,",
        "",
        `Someone signing in with ${provider} asked to link it to your account. To link it and sign in, open this link`,
        "in the same browser where that sign-in started (it works nowhere else):",
        "",
        link("/signin/social/link/confirm", token),
        "",
        `The link works once and expires in ${lifetime(ttlMs)}.`,
        "If this was not you, ignore this message: nothing is linked.",
      ].join("\n"),
    }),
    signUpAttempt: (to: string): Mail => ({
      to,
      subject: "Someone tried to sign up with your email address",
      text: [
        "Hello,",
        "",
        "Someone tried to create a new account with this email address, which already has an account.",
        "No new account was created and nothing changed on yours.",
        "",
        "If it was you, sign in instead, or reset your password if you forgot it.",
      ].join("\n"),
    }),
    confirmEmailChange: (to: string, token: string, ttlMs: number): Mail => ({
      to,
      priority: "link",
      subject: "Confirm your new email address",
      text: [
        "Hello,",
        "",
        "Someone asked to use this address for their account. To confirm it, open this link:",
        "",
        link("/verify-email", token),
        "",
        `The link works once and expires in ${lifetime(ttlMs)}.`,
        "If you did not ask for this, ignore this message: nothing changes.",
      ].join("\n"),
    }),
    emailChangeAttempt: (to: string): Mail => ({
      to,
      subject: "Someone tried to move an account to your email address",
      text: [
        "Hello,",
        "",
        "Someone tried to change the email address of another account to this address, which already has an account.",
        "Nothing changed on either account.",
        "",
        "If it was you, sign in with this address instead.",
      ].join("\n"),
    }),
    emailChangeRequested: (to: string, newEmail: string): Mail => ({
      to,
      subject: "Security notice: someone asked to change your email address",
      text: [
        "Hello,",
        "",
        `Someone asked to change the email address of your account to ${masked(newEmail)}.`,
        "Nothing changes until the link mailed to that address is opened.",
        "",
        "If this was not you, reset your password now: that also cancels the change.",
      ].join("\n"),
    }),
    emailChanged: (to: string, newEmail: string): Mail => ({
      to,
      subject: "Security notice: your email address was changed",
      text: [
        "Hello,",
        "",
        `The email address of your account was changed to ${masked(newEmail)}.`,
        "This address no longer signs in to the account or receives its mail.",
        "",
        "If this was not you, contact the administrator of this service.",
      ].join("\n"),
    }),
    securityNotice: (to: string, change: string): Mail => ({
      to,
      subject: `Security notice: ${change}`,
      text: ["Hello,", "", `This is to let you know that on your account: ${change}.`, "", notYou].join("\n"),
    }),
  };
}

export type MailTemplates = ReturnType<typeof createMailTemplates>;
