import http2 from "node:http2";
import argon2 from "argon2";

/**
 * SignIn's ceiling: an h2c server whose every POST is one argon2.verify of CEILING_PASSWORD against
 * CEILING_HASH (made with the service's parameters), answering 200. Listens on 127.0.0.1:CEILING_PORT.
 */
const hash = process.env.CEILING_HASH ?? "";
const password = process.env.CEILING_PASSWORD ?? "";

const server = http2.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    argon2.verify(hash, password).then(
      (ok) => {
        res.writeHead(ok ? 200 : 401, { "content-type": "application/json" });
        res.end("{}");
      },
      () => {
        res.writeHead(500);
        res.end();
      },
    );
  });
});
server.listen(Number(process.env.CEILING_PORT), "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
