import { ConnectError, type Code } from "@connectrpc/connect";

/** The error a call fails with; fails the test if the call succeeds. */
export async function rejection(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

export const codeOf = async (call: Promise<unknown>): Promise<Code> => (await rejection(call)).code;
