import { mkdirSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  to: string;
  subject: string;
  text: string;
  /** Where the raw message was written, when the sink keeps files. */
  file?: string;
}

export interface MailSink {
  url: string;
  messages: ReceivedMail[];
  /** The first message to `to` whose subject matches, waiting for it to arrive. */
  waitFor(to: string, match?: RegExp, timeoutMs?: number): Promise<ReceivedMail>;
  close(): Promise<void>;
}

export interface MailSinkOptions {
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Keep each message as an .eml file here, for a person to open (the local launcher). */
  dir?: string;
  onMail?: (mail: ReceivedMail) => void;
}

/**
 * A real SMTP server that accepts every message and delivers it nowhere else:
 * the local stack's mailbox, and the tests' way to read what the outbox sent.
 */
export async function startMailSink(options: MailSinkOptions = {}): Promise<MailSink> {
  const messages: ReceivedMail[] = [];
  if (options.dir) mkdirSync(options.dir, { recursive: true });
  let count = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    size: 1024 * 1024,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks);
        simpleParser(raw).then(
          (parsed) => {
            const file = options.dir ? path.join(options.dir, `${Date.now()}-${++count}.eml`) : undefined;
            if (file) writeFileSync(file, raw);
            for (const rcpt of session.envelope.rcptTo) {
              const mail = { to: rcpt.address, subject: parsed.subject ?? "", text: parsed.text ?? "", ...(file ? { file } : {}) };
              messages.push(mail);
              options.onMail?.(mail);
            }
            callback();
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.server.once("error", reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://${host}:${port}`,
    messages,
    async waitFor(to, match = /./, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.find((m) => m.to === to && match.test(m.subject));
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no mail to ${to} matching ${match} within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
