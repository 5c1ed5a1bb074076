import { createRouterTransport, type ConnectRouter, type Interceptor, type Transport } from "@connectrpc/connect";
import { kRequestMeta, type RequestMeta } from "./request-context.js";

const META_HEADER = "x-in-process-request-meta";

/**
 * A transport to services in this process (the hosted pages call the RPCs through it, so every
 * rule of each RPC applies) that keeps the caller's request meta. connect-es's in-memory client
 * starts each call with empty context values on the server side, which would leave every session
 * opened by a page without its IP and user agent and put every browser on one per-IP budget (""):
 * the meta crosses as a header that only this router reads (it is never reachable from the network).
 */
export function createInProcessTransport(routes: (router: ConnectRouter) => void, interceptors: Interceptor[]): Transport {
  const carryOut: Interceptor = (next) => (req) => {
    req.header.set(META_HEADER, encodeURIComponent(JSON.stringify(req.contextValues.get(kRequestMeta))));
    return next(req);
  };
  const carryIn: Interceptor = (next) => (req) => {
    const carried = req.header.get(META_HEADER);
    req.header.delete(META_HEADER);
    if (carried) req.contextValues.set(kRequestMeta, JSON.parse(decodeURIComponent(carried)) as RequestMeta);
    return next(req);
  };
  return createRouterTransport(routes, { transport: { interceptors: [carryOut] }, router: { interceptors: [carryIn, ...interceptors] } });
}
