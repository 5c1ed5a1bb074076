import http2 from "node:http2";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { AuthService } from "../../src/gen/auth/v1/auth_pb.js";

/**
 * GetMe's ceiling: connect-node, the auth service's own RPC stack, on a bare h2c server answering one
 * fixed account: no token, no session, no database. Whatever GetMe costs beyond this is the price of
 * authenticating the caller and reading their row. Listens on 127.0.0.1:CEILING_PORT.
 */
const ME = { user: { id: "00000000-0000-4000-8000-000000000000", email: "bench@example.com", emailVerified: false, createdAt: timestampFromDate(new Date(0)) } };

const server = http2.createServer(
  connectNodeAdapter({
    routes(router) {
      router.rpc(AuthService.method.getMe, () => ME);
    },
  }),
);
server.listen(Number(process.env.CEILING_PORT), "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
