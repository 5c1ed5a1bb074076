import nodemailer from "nodemailer";
import type { Mail } from "./mail.js";

export interface MailSender {
  send(mail: Mail): Promise<void>;
  close(): void;
}

/** Delivers over SMTP; timeouts are bounded because a worker holds the outbox row's lock while it sends. */
export function createSmtpSender(smtpUrl: string, from: string): MailSender {
  const transport = nodemailer.createTransport(
    { url: smtpUrl, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 },
    { from },
  );
  return {
    async send(mail) {
      await transport.sendMail({ to: mail.to, subject: mail.subject, text: mail.text });
    },
    close: () => transport.close(),
  };
}
