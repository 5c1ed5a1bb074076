import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions, type ContextValues } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalServerRequest } from "@connectrpc/connect/protocol";
import type { IncomingMessage, ServerResponse } from "node:http";
import zlib from "node:zlib";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Logger } from "./log.js";

export type NodeRequest = IncomingMessage | Http2ServerRequest;
export type NodeResponse = ServerResponse | Http2ServerResponse;

export interface NodeHandlerOptions extends Partial<ConnectRouterOptions> {
  routes: (router: ConnectRouter) => void;
  fallback: (req: NodeRequest, res: NodeResponse) => void;
  contextValues: (req: NodeRequest) => ContextValues;
  log: Logger;
}

const BINARY = /^application\/(proto|grpc(-web)?(\+proto)?)(;|$)/i;
const JSON_BODY = /^application\/(json|connect\+json|grpc(-web)?\+json)(;|$)/i;
const ENVELOPED = /^application\/(grpc|connect\+)/i;
// RFC 8259 8.1: JSON text exchanged between systems is UTF-8; invalid bytes are refused, never replaced with U+FFFD.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const COMPRESSED_FLAG = 0b01;

/**
 * Connect's router, served like connectNodeAdapter, with two differences:
 * a binary request body that is not valid protobuf is INVALID_ARGUMENT
 * (connect-es reports it as INTERNAL, "parse binary", which would tell a
 * client the fault was ours and page an operator for a client's garbage), and
 * a JSON body that is not valid UTF-8 is INVALID_ARGUMENT (connect-es decodes
 * it leniently, so FF FE would become U+FFFD and name another account).
 * Protobuf strings are already checked by protobuf-es (proto3 utf8_validation VERIFY).
 */
export function createNodeHandler(options: NodeHandlerOptions) {
  const router = createConnectRouter({
    acceptCompression: [compressionGzip, compressionBrotli],
    // The error table promises it: a field the schema does not have is a client's mistake (or a
    // probe, like "isAdmin"), answered INVALID_ARGUMENT rather than silently dropped.
    jsonOptions: { ignoreUnknownFields: false },
    ...options,
  });
  options.routes(router);
  const handlers = new Map(router.handlers.map((h) => [h.requestPath, h]));

  return function handle(req: NodeRequest, res: NodeResponse): void {
    const handler = handlers.get((req.url ?? "").split("?", 1)[0] ?? "");
    if (!handler) {
      options.fallback(req, res);
      return;
    }
    const uReq = universalRequestFromNodeRequest(req as IncomingMessage, res as ServerResponse, undefined, options.contextValues(req));
    const contentType = String(req.headers["content-type"] ?? "");
    const maxBytes = options.readMaxBytes ?? 0xffffffff;
    const enveloped = ENVELOPED.test(contentType);
    const body = { enveloped, encoding: compressionOf(req, enveloped), maxBytes };
    if (BINARY.test(contentType)) {
      uReq.body = validated(uReq, body, (bytes) => {
        try {
          fromBinary(handler.method.input, bytes);
        } catch (error) {
          throw new ConnectError(`malformed protobuf request: ${error instanceof Error ? error.message : "cannot decode"}`, Code.InvalidArgument);
        }
      });
    } else if (JSON_BODY.test(contentType)) {
      uReq.body = validated(uReq, body, (bytes) => {
        try {
          strictUtf8.decode(bytes);
        } catch {
          throw new ConnectError("malformed JSON request: not valid UTF-8", Code.InvalidArgument);
        }
      });
    }
    handler(uReq)
      .then((uRes) => universalResponseToNodeResponse(uRes, res as ServerResponse))
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code !== Code.Aborted) options.log.error({ err: reason, rpc: handler.method.name }, "response failed");
      });
  };
}

/**
 * How the messages are compressed: a unary body by its content-encoding, an envelope's flagged
 * messages by the stream's message encoding (grpc-encoding for gRPC and gRPC-web, connect-content-encoding
 * for Connect streams). Connect matches the names exactly, so neither is folded here.
 */
function compressionOf(req: NodeRequest, enveloped: boolean): string {
  const names = enveloped ? ["grpc-encoding", "connect-content-encoding"] : ["content-encoding"];
  for (const name of names) {
    const value = req.headers[name];
    if (typeof value === "string" && value !== "") return value;
  }
  return "identity";
}

// The encodings the router accepts (acceptCompression above), inflated as Connect will.
const INFLATE = new Map<string, (bytes: Uint8Array, options: { maxOutputLength: number }) => Buffer>([
  ["gzip", zlib.gunzipSync],
  ["br", zlib.brotliDecompressSync],
]);

/**
 * The body inflated, bounded like Connect bounds it; undefined if it cannot be (corrupt, or over the
 * limit), for Connect to answer as it does.
 */
function inflated(bytes: Uint8Array, encoding: string, maxBytes: number): Uint8Array | undefined {
  if (encoding === "identity") return bytes;
  try {
    return INFLATE.get(encoding)?.(bytes, { maxOutputLength: maxBytes });
  } catch {
    return undefined;
  }
}

/**
 * Buffers a unary body (already bounded by readMaxBytes), checks each message, inflated as Connect
 * will inflate it, with `decode` (which throws a client-safe ConnectError), then hands the same bytes
 * on. Over the limit, it stops checking and lets Connect answer RESOURCE_EXHAUSTED as usual.
 */
function validated(
  uReq: UniversalServerRequest,
  framing: { enveloped: boolean; encoding: string; maxBytes: number },
  decode: (bytes: Uint8Array) => void,
): AsyncIterable<Uint8Array> {
  const source = uReq.body as AsyncIterable<Uint8Array>;
  const { enveloped, encoding, maxBytes } = framing;
  return {
    async *[Symbol.asyncIterator]() {
      const chunks: Uint8Array[] = [];
      let size = 0;
      for await (const chunk of source) {
        chunks.push(chunk);
        size += chunk.byteLength;
        if (size > maxBytes + 5) {
          yield* chunks;
          yield* source;
          return;
        }
      }
      const body = Buffer.concat(chunks);
      const found = enveloped ? messages(body) : [{ bytes: body, compressed: encoding !== "identity" }];
      for (const message of found) {
        // A message that cannot be inflated (unknown encoding, corrupt, too big) is Connect's to refuse.
        const plain = message.compressed ? inflated(message.bytes, encoding, maxBytes) : message.bytes;
        if (plain !== undefined) decode(plain);
      }
      yield body;
    },
  };
}

/** The data messages of a gRPC envelope stream, each flagged compressed or not; a truncated tail is left to Connect. */
function messages(body: Buffer): Array<{ bytes: Buffer; compressed: boolean }> {
  const found: Array<{ bytes: Buffer; compressed: boolean }> = [];
  let offset = 0;
  while (offset + 5 <= body.length) {
    const flags = body[offset] as number;
    const length = body.readUInt32BE(offset + 1);
    if (offset + 5 + length > body.length) break;
    if ((flags & 0x80) === 0) found.push({ bytes: body.subarray(offset + 5, offset + 5 + length), compressed: (flags & COMPRESSED_FLAG) !== 0 });
    offset += 5 + length;
  }
  return found;
}
