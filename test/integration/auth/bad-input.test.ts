import http2 from "node:http2";
import zlib from "node:zlib";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_PASSWORD, type TestAuth, startTestAuth, uniqueEmail } from "../../support/auth.js";
import { codeOf, rejection } from "../../support/rpc-errors.js";

const STACK_TRACE = /\n\s+at |node_modules|\.ts:\d+|Error:/;

/** Sends one raw gRPC message (5-byte frame header + body) and returns the grpc-status trailer. */
function rawGrpc(port: number, path: string, body: Buffer, declaredLength = body.length): Promise<{ status: string; message: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
    let status = "";
    let message = "";
    const take = (headers: http2.IncomingHttpHeaders) => {
      status ||= String(headers["grpc-status"] ?? "");
      message ||= decodeURIComponent(String(headers["grpc-message"] ?? ""));
    };
    req.on("response", take);
    req.on("trailers", take);
    req.on("data", () => {});
    req.on("end", () => {
      session.close();
      resolve({ status, message });
    });
    req.on("error", reject);
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(declaredLength, 1);
    req.end(Buffer.concat([prefix, body]));
  });
}

describe("bad input gets a clear error with the right code", () => {
  let auth: TestAuth;
  const post = (rpc: string, body: string | Buffer, contentType = "application/json") =>
    fetch(`${auth.server.url}/auth.v1.AuthService/${rpc}`, { method: "POST", headers: { "content-type": contentType }, body: typeof body === "string" ? body : new Uint8Array(body) });

  beforeAll(async () => {
    auth = await startTestAuth();
  });
  afterAll(async () => {
    await auth?.close();
  });

  it("Connect JSON: wrong types and broken JSON are INVALID_ARGUMENT", async () => {
    for (const body of ['{"email": 1, "password": "x"}', '{"email": ["a@b.co"]}', "{{{", "null", '"string"']) {
      const res = await post("SignIn", body);
      const text = await res.text();
      expect(res.status, body).toBe(400);
      expect(JSON.parse(text).code, body).toBe("invalid_argument");
      expect(text).not.toMatch(STACK_TRACE);
    }
  });

  it("invalid UTF-8 is refused, not replaced: in a JSON body and in a protobuf string", async () => {
    const email = uniqueEmail("utf8");
    const [local, domain] = email.split("@");
    // FF FE in the local part: a decoder that substitutes U+FFFD would create "…\ufffd\ufffd…@example.com".
    const body = Buffer.concat([Buffer.from(`{"email":"${local}`), Buffer.from([0xff, 0xfe]), Buffer.from(`@${domain}","password":"${GOOD_PASSWORD}"}`)]);
    for (const rpc of ["SignUp", "SignIn"]) {
      const res = await post(rpc, body);
      expect(res.status, rpc).toBe(400);
      const answer = await res.json();
      expect(answer.code, rpc).toBe("invalid_argument");
      expect(answer.message, rpc).toMatch(/UTF-8/);
    }
    // Compressed, the same bytes are refused alike: Connect inflates them leniently too.
    for (const [encoding, packed] of [["gzip", zlib.gzipSync(body)], ["br", zlib.brotliCompressSync(body)]] as const) {
      const res = await fetch(`${auth.server.url}/auth.v1.AuthService/SignUp`, {
        method: "POST",
        headers: { "content-type": "application/json", "content-encoding": encoding },
        body: new Uint8Array(packed),
      });
      expect(res.status, encoding).toBe(400);
      expect((await res.json()).message, encoding).toMatch(/UTF-8/);
    }
    // gRPC-web JSON, its one message gzip-compressed (flag 1, grpc-encoding): inflated and refused alike.
    const packed = zlib.gzipSync(body);
    const frame = Buffer.alloc(5);
    frame[0] = 1;
    frame.writeUInt32BE(packed.length, 1);
    const web = await fetch(`${auth.server.url}/auth.v1.AuthService/SignUp`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+json", "grpc-encoding": "gzip", "x-grpc-web": "1" },
      body: new Uint8Array(Buffer.concat([frame, packed])),
    });
    // gRPC-web sends its status in a trailer frame at the end of the body.
    const trailer = decodeURIComponent(Buffer.from(await web.arrayBuffer()).subarray(5).toString());
    expect(trailer).toMatch(new RegExp(`grpc-status: ${Code.InvalidArgument}\r\n`));
    expect(trailer).toMatch(/grpc-message: .*UTF-8/);
    const valid = zlib.gzipSync(JSON.stringify({ email: uniqueEmail("gzip"), password: GOOD_PASSWORD }));
    const accepted = await fetch(`${auth.server.url}/auth.v1.AuthService/SignUp`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      body: new Uint8Array(valid),
    });
    expect(accepted.status).toBe(200);
    const replaced = `${local}\ufffd\ufffd@${domain}`;
    expect(await codeOf(auth.client.signIn({ email: replaced, password: GOOD_PASSWORD }))).toBe(Code.Unauthenticated);

    const field = (n: number, bytes: Buffer) => Buffer.concat([Buffer.from([(n << 3) | 2, bytes.length]), bytes]);
    const message = Buffer.concat([field(1, Buffer.concat([Buffer.from(local!), Buffer.from([0xff, 0xfe]), Buffer.from(`@${domain}`)])), field(2, Buffer.from(GOOD_PASSWORD))]);
    const grpc = await rawGrpc(auth.server.port, "/auth.v1.AuthService/SignUp", message);
    expect(grpc.status).toBe(String(Code.InvalidArgument));
    const binary = await post("SignUp", message, "application/proto");
    expect(binary.status).toBe(400);
  });

  it("Connect JSON: an unknown field is INVALID_ARGUMENT even on a request that would otherwise succeed", async () => {
    const email = uniqueEmail("unknown-field");
    await auth.client.signUp({ email, password: GOOD_PASSWORD });
    // The same body without the extra field signs in, so a refusal can only be for the unknown field.
    expect((await post("SignIn", JSON.stringify({ email, password: GOOD_PASSWORD }))).status).toBe(200);
    const res = await post("SignIn", JSON.stringify({ email, password: GOOD_PASSWORD, isAdmin: true }));
    expect(res.status).toBe(400);
    const answer = await res.json();
    expect(answer.code).toBe("invalid_argument");
    expect(answer.message).toMatch(/isAdmin/);
  });

  it("Connect: oversized bodies are RESOURCE_EXHAUSTED, unsupported media types 415, unknown routes 404", async () => {
    const huge = JSON.stringify({ email: "a@example.com", password: "x".repeat(200_000) });
    const big = await post("SignUp", huge);
    expect(big.status).toBe(429);
    expect((await big.json()).code).toBe("resource_exhausted");
    expect((await post("SignIn", "email=a", "text/plain")).status).toBe(415);
    const missing = await fetch(`${auth.server.url}/auth.v1.AuthService/DropTables`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(missing.status).toBe(404);
    const nowhere = await fetch(`${auth.server.url}/../../etc/passwd`);
    expect(nowhere.status).toBe(404);
  });

  it("Connect binary: malformed protobuf is INVALID_ARGUMENT", async () => {
    const res = await post("SignIn", Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a]), "application/proto");
    expect(res.status).toBe(400);
    expect((await res.json()).code).toBe("invalid_argument");
  });

  it("gRPC: malformed and oversized frames get INVALID_ARGUMENT and RESOURCE_EXHAUSTED trailers", async () => {
    const malformed = await rawGrpc(auth.server.port, "/auth.v1.AuthService/SignIn", Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    expect(malformed.status).toBe(String(Code.InvalidArgument));
    const oversized = await rawGrpc(auth.server.port, "/auth.v1.AuthService/SignIn", Buffer.alloc(100_000, 0x41));
    expect(oversized.status).toBe(String(Code.ResourceExhausted));
    expect(oversized.message).not.toMatch(STACK_TRACE);
  });

  it("hostile and malformed emails are INVALID_ARGUMENT with a message about the email", async () => {
    const emails = [
      "",
      "   ",
      "no-at-sign",
      "@example.com",
      "user@",
      "user@localhost",
      "user@@example.com",
      "us er@example.com",
      "user\u0000@example.com",
      "user\r\nBcc: victim@example.com",
      "<script>alert(1)</script>@example.com",
      "a".repeat(65) + "@example.com",
      "a@" + "b".repeat(260) + ".com",
      "x".repeat(20_000),
      "user@exa mple.com",
      "user@-example.com",
      ".user@example.com",
      "us..er@example.com",
      "user@example..com",
      "\u202euser@example.com",
    ];
    for (const email of emails) {
      for (const call of [auth.client.signUp({ email, password: GOOD_PASSWORD }), auth.client.signIn({ email, password: GOOD_PASSWORD })]) {
        const error = await rejection(call);
        expect(error.code, JSON.stringify(email)).toBe(Code.InvalidArgument);
        expect(error.rawMessage, JSON.stringify(email)).toMatch(/email/);
      }
    }
  });

  it("accepts internationalised addresses", async () => {
    for (const email of [`用户-${Date.now()}@例子.广告`, `josé.${Date.now()}@bücher.de`]) {
      await auth.client.signUp({ email, password: GOOD_PASSWORD });
      await expect(auth.client.signIn({ email, password: GOOD_PASSWORD })).resolves.toBeTruthy();
    }
  });

  it("hostile passwords are INVALID_ARGUMENT on sign-up and never reach the hasher when huge", async () => {
    for (const password of ["", "a\u0000bcdefghij", "\u0007\u0007\u0007\u0007\u0007\u0007\u0007\u0007", "🔐".repeat(129), "x".repeat(5000)]) {
      const error = await rejection(auth.client.signUp({ email: uniqueEmail(), password }));
      expect(error.code, JSON.stringify(password.slice(0, 20))).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toMatch(/password/);
    }
    const signIn = await rejection(auth.client.signIn({ email: uniqueEmail(), password: "x".repeat(5000) }));
    expect(signIn.code).toBe(Code.InvalidArgument);
  });

  it("keeps serving after all of the above", async () => {
    const res = await fetch(`${auth.server.url}/healthz`);
    expect(res.status).toBe(200);
    const email = uniqueEmail();
    await auth.client.signUp({ email, password: GOOD_PASSWORD });
    await expect(auth.client.signIn({ email, password: GOOD_PASSWORD })).resolves.toBeTruthy();
  });
});
