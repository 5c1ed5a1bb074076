/**
 * The `mail` profile's SMTP sink: the launcher's own sink (src/stack/mail-sink.ts) as a process.
 * It accepts every message, delivers none, keeps each as an .eml file in MAIL_SINK_DIR and logs a
 * JSON line per message, so verification and reset links can be opened in development.
 *
 * Environment: MAIL_SINK_HOST (0.0.0.0), MAIL_SINK_PORT (2525), MAIL_SINK_DIR (/var/lib/auth-platform/mail).
 */
import { startMailSink } from "../src/stack/mail-sink.js";

const port = Number(process.env.MAIL_SINK_PORT || "2525");
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`mail sink: MAIL_SINK_PORT must be a port, got "${process.env.MAIL_SINK_PORT}"\n`);
  process.exit(2);
}
const sink = await startMailSink({
  host: process.env.MAIL_SINK_HOST || "0.0.0.0",
  port,
  dir: process.env.MAIL_SINK_DIR || "/var/lib/auth-platform/mail",
  onMail: (mail) => process.stdout.write(`${JSON.stringify({ msg: "mail received", to: mail.to, subject: mail.subject, file: mail.file })}\n`),
});
process.stdout.write(`mail sink listening on ${sink.url}\n`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void sink.close().finally(() => process.exit(0)));
}
