import { createMemorySessionStore } from "../../../src/auth/sessions/memory-session-store.js";
import { createMemoryUserStore } from "../../../src/auth/users/memory-user-store.js";
import type { SessionEvent } from "../../../src/contract/session-events.js";
import { sessionStoreContract } from "../../support/contracts/session-store.js";
import { userStoreContract } from "../../support/contracts/user-store.js";

sessionStoreContract("in memory", async (options) => {
  const events: SessionEvent[] = [];
  return { store: createMemorySessionStore({ ...options, onEvent: (event) => events.push(event) }), events, close: async () => {} };
});

userStoreContract("in memory", async () => {
  const store = createMemoryUserStore();
  return { store, seed: async (user) => store.add(user), close: async () => {} };
});
