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

export function createMailTemplates(deps: MailTemplatesDeps) {
  // The token travels in the fragment, which browsers never send to servers or in Referer headers.
  const link = (path: string, token: string) => `${deps.publicBaseUrl}${path}#token=${token}`;
  return {
    verifyEmail: (to: string, token: string, ttlMs: number): Mail => ({
      to,
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
    securityNotice: (to: string, change: string): Mail => ({
      to,
      subject: `Security notice: ${change}`,
      text: ["Hello,", "", `This is to let you know that on your account: ${change}.`, "", notYou].join("\n"),
    }),
  };
}

export type MailTemplates = ReturnType<typeof createMailTemplates>;
