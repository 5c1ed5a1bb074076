import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { SessionStore } from "../../../src/auth/sessions/session-store.js";
import type { SessionEvent } from "../../../src/contract/session-events.js";
import { parseSessionSecret } from "../../../src/contract/session-secret.js";
import { steppingClock } from "../clock.js";
import { eventually } from "../eventually.js";

export interface SessionStoreUnderTest {
  store: SessionStore;
  /** Every session event the store announced, in order (they may arrive a moment after the call). */
  events: SessionEvent[];
  close(): Promise<void>;
}

export type SessionStoreFactory = (options: {
  clock: ReturnType<typeof steppingClock>;
  idleTtlMs: number;
  absoluteTtlMs: number;
  reuseGraceMs: number;
}) => Promise<SessionStoreUnderTest>;

const IDLE_MS = 60_000;
const ABSOLUTE_MS = 3_600_000;
const GRACE_MS = 2_000;

/**
 * What every SessionStore must do, whatever holds the sessions (after Ory Kratos' persister
 * tests): one suite, run against the Redis store and the in-memory one.
 */
export function sessionStoreContract(name: string, factory: SessionStoreFactory): void {
  describe(`SessionStore contract: ${name}`, () => {
    let clockOfTest = steppingClock();
    async function withStore(test: (s: SessionStoreUnderTest & { clock: ReturnType<typeof steppingClock> }) => Promise<void>, idleTtlMs = IDLE_MS) {
      const clock = steppingClock();
      clockOfTest = clock;
      const underTest = await factory({ clock, idleTtlMs, absoluteTtlMs: ABSOLUTE_MS, reuseGraceMs: GRACE_MS });
      try {
        await test({ ...underTest, clock });
      } finally {
        await underTest.close();
      }
    }
    const open = (store: SessionStore, userId = randomUUID(), extra: Partial<Parameters<SessionStore["create"]>[0]> = {}) =>
      store.create({ userId, userAgent: "Test/1.0", ip: "192.0.2.1", secondFactor: false, emailVerified: false, fingerprint: undefined, provenAt: clockOfTest.now(), ...extra });
    const eventFor = (events: SessionEvent[], sessionId: string, type: "session.revoked" | "session.changed") =>
      eventually(async () => events.find((e) => e.type === type && e.sessionId === sessionId), 2000, `${type} for ${sessionId}`);

    it("creates a session that touch finds with what was recorded, the user agent bounded", async () => {
      await withStore(async ({ store, clock }) => {
        const userId = randomUUID();
        const before = clock.now();
        const issued = await open(store, userId, { userAgent: "U".repeat(1000), secondFactor: true, emailVerified: true });
        expect(parseSessionSecret(issued.refreshToken)?.sessionId).toBe(issued.session.id);
        const found = await store.touch(issued.session.id, issued.session.userId);
        expect(found).toMatchObject({ id: issued.session.id, userId, ip: "192.0.2.1", acr: "mfa", emailVerified: true, userAgent: "U".repeat(256) });
        expect(found!.expiresAt.getTime() - before).toBeGreaterThanOrEqual(ABSOLUTE_MS);
        expect(await store.touch("not-a-session-id", userId)).toBeUndefined();
        expect(await store.touch("A".repeat(22), userId)).toBeUndefined();
        // Another user's token naming this session finds nothing.
        expect(await store.touch(issued.session.id, randomUUID())).toBeUndefined();
        expect(await store.touch(issued.session.id, userId)).toBeDefined();
      });
    });

    it("rotates a refresh token once; a retry inside the grace is raced, later reuse names the family", async () => {
      await withStore(async ({ store, clock }) => {
        const userId = randomUUID();
        const issued = await open(store, userId);
        const rotated = await store.rotate(issued.refreshToken);
        expect(rotated.outcome).toBe("ok");
        if (rotated.outcome !== "ok") return;
        expect(rotated.session.id).toBe(issued.session.id);
        expect(rotated.refreshToken).not.toBe(issued.refreshToken);
        expect(await store.rotate(issued.refreshToken)).toEqual({ outcome: "raced" });
        clock.advance(GRACE_MS + 1000);
        expect(await store.rotate(issued.refreshToken)).toEqual({ outcome: "reused", sessionId: issued.session.id, userId });
        expect((await store.rotate(rotated.refreshToken)).outcome).toBe("ok");
        expect(await store.rotate("garbage")).toEqual({ outcome: "invalid" });
        expect(await store.rotate(`${issued.session.id}.${"A".repeat(43)}`)).toEqual({ outcome: "invalid" });
      });
    });

    it("lets exactly one of ten concurrent refreshes with one token win", async () => {
      await withStore(async ({ store }) => {
        const issued = await open(store);
        const outcomes = await Promise.all(Array.from({ length: 10 }, () => store.rotate(issued.refreshToken)));
        expect(outcomes.filter((o) => o.outcome === "ok")).toHaveLength(1);
        expect(outcomes.filter((o) => o.outcome === "raced")).toHaveLength(9);
      });
    });

    it("ends a session at its absolute end and after the idle timeout", async () => {
      await withStore(async ({ store, clock }) => {
        const issued = await open(store);
        clock.advance(ABSOLUTE_MS + 1000);
        expect(await store.touch(issued.session.id, issued.session.userId)).toBeUndefined();
        expect((await store.rotate(issued.refreshToken)).outcome).toBe("invalid");
      });
      await withStore(async ({ store }) => {
        const issued = await open(store);
        await new Promise((resolve) => setTimeout(resolve, 500));
        expect(await store.touch(issued.session.id, issued.session.userId)).toBeUndefined();
      }, 200);
    });

    it("keeps a session in use alive past its idle timeout", async () => {
      await withStore(async ({ store }) => {
        const issued = await open(store);
        // Six uses 150 ms apart: 900 ms of use, more than twice the idle timeout.
        for (let use = 0; use < 6; use++) {
          await new Promise((resolve) => setTimeout(resolve, 150));
          expect(await store.touch(issued.session.id, issued.session.userId), `use ${use}`).toBeDefined();
        }
      }, 400);
    });

    it("lists a user's live sessions newest first, and only theirs", async () => {
      await withStore(async ({ store, clock }) => {
        const userId = randomUUID();
        const first = await open(store, userId);
        clock.advance(1000);
        const second = await open(store, userId);
        await open(store);
        const gone = await open(store, userId);
        await store.revoke(gone.session.id, userId);
        expect((await store.listForUser(userId)).map((s) => s.id)).toEqual([second.session.id, first.session.id]);
        expect(await store.listForUser(randomUUID())).toEqual([]);
      });
    });

    it("revokes only the owner's session, once, and announces it", async () => {
      await withStore(async ({ store, events }) => {
        const userId = randomUUID();
        const issued = await open(store, userId);
        expect(await store.revoke(issued.session.id, randomUUID())).toBe(false);
        expect(await store.touch(issued.session.id, issued.session.userId)).toBeDefined();
        expect(await store.revoke(issued.session.id, userId)).toBe(true);
        expect((await eventFor(events, issued.session.id, "session.revoked")).value).toEqual({ type: "session.revoked", sessionId: issued.session.id, userId, atMs: expect.any(Number) });
        expect(await store.revoke(issued.session.id, userId)).toBe(false);
        expect(await store.touch(issued.session.id, issued.session.userId)).toBeUndefined();
        expect((await store.rotate(issued.refreshToken)).outcome).toBe("invalid");
        expect(await store.revoke("../../etc", userId)).toBe(false);
      });
    });

    it("revokes all of a user's sessions but the one kept", async () => {
      await withStore(async ({ store }) => {
        const userId = randomUUID();
        const [keep, a, b] = await Promise.all([open(store, userId), open(store, userId), open(store, userId)]);
        const other = await open(store);
        expect(await store.revokeAllForUser(userId, keep.session.id)).toBe(2);
        expect(await store.touch(a.session.id, a.session.userId)).toBeUndefined();
        expect(await store.touch(b.session.id, b.session.userId)).toBeUndefined();
        expect(await store.touch(keep.session.id, keep.session.userId)).toBeDefined();
        expect(await store.touch(other.session.id, other.session.userId)).toBeDefined();
        expect(await store.revokeAllForUser(userId)).toBe(1);
      });
    });

    it("revokes by cutoff: older sessions but the one kept end, later ones live, an older cutoff never wins", async () => {
      await withStore(async ({ store, clock, events }) => {
        const userId = randomUUID();
        const [keep, older] = await Promise.all([open(store, userId), open(store, userId)]);
        clock.advance(1000);
        const cutoff = clock.now();
        clock.advance(1000);
        const later = await open(store, userId);
        expect(await store.revokeCreatedBefore(userId, cutoff, keep.session.id)).toBe(1);
        await eventually(async () => events.find((e) => e.type === "user.sessions_revoked" && e.userId === userId), 2000, "user.sessions_revoked");
        await eventFor(events, older.session.id, "session.revoked");
        expect(await store.touch(older.session.id, older.session.userId)).toBeUndefined();
        expect((await store.rotate(older.refreshToken)).outcome).toBe("invalid");
        expect(await store.touch(keep.session.id, keep.session.userId)).toBeDefined();
        expect(await store.touch(later.session.id, later.session.userId)).toBeDefined();
        expect(await store.revokeCreatedBefore(userId, cutoff, keep.session.id)).toBe(0);
        // An older cutoff applied late (a sweep after a newer change) takes nothing back from the newer one.
        const newer = clock.now();
        clock.advance(1000);
        const newest = await open(store, userId);
        await store.revokeCreatedBefore(userId, newer, later.session.id);
        await store.revokeCreatedBefore(userId, cutoff, keep.session.id);
        expect(await store.touch(keep.session.id, keep.session.userId)).toBeUndefined();
        expect(await store.touch(later.session.id, later.session.userId)).toBeDefined();
        expect((await store.listForUser(userId)).map((s) => s.id).sort()).toEqual([later.session.id, newest.session.id].sort());
      });
    });

    it("dates a session by when its password was proven: one written after a cutoff but proven before it is dead on arrival", async () => {
      await withStore(async ({ store, clock }) => {
        const userId = randomUUID();
        const provenAt = clock.now();
        clock.advance(1000);
        const cutoff = clock.now();
        await store.revokeCreatedBefore(userId, cutoff);
        clock.advance(1000);
        const late = await open(store, userId, { provenAt });
        expect(late.session.createdAt.getTime()).toBe(provenAt);
        // Its lifetime counts from the proof too, so it can never outlive the cutoff's marker.
        expect(late.session.expiresAt.getTime()).toBe(provenAt + ABSOLUTE_MS);
        expect(await store.touch(late.session.id, late.session.userId)).toBeUndefined();
        expect((await store.rotate(late.refreshToken)).outcome).toBe("invalid");
        // Proven at the cutoff or after: the new password, so the session lives.
        const fresh = await open(store, userId, { provenAt: cutoff });
        expect(await store.touch(fresh.session.id, fresh.session.userId)).toBeDefined();
      });
    });

    it("holds a cutoff over sessions its index no longer names, and over their cookies", async () => {
      await withStore(async ({ store, clock }) => {
        const userId = randomUUID();
        const issued = await open(store, userId);
        const cookie = parseSessionSecret((await store.attachCookie(issued.session.id, userId)) ?? "");
        clock.advance(1000);
        // A keep id that is no session: every session of the user created before now ends.
        await store.revokeCreatedBefore(userId, clock.now(), "A".repeat(22));
        expect(await store.findByCookie(issued.session.id, cookie!.hash)).toBeUndefined();
        expect(await store.touch(issued.session.id, issued.session.userId)).toBeUndefined();
      });
    });

    it("gives a session one cookie, found only by its hash and only for its user", async () => {
      await withStore(async ({ store }) => {
        const userId = randomUUID();
        const issued = await open(store, userId);
        expect(await store.attachCookie(issued.session.id, randomUUID())).toBeUndefined();
        const cookie = await store.attachCookie(issued.session.id, userId);
        const parsed = parseSessionSecret(cookie ?? "");
        expect(parsed?.sessionId).toBe(issued.session.id);
        expect(await store.findByCookie(issued.session.id, parsed!.hash)).toMatchObject({ id: issued.session.id, userId });
        expect(await store.findByCookie(issued.session.id, "wrong")).toBeUndefined();
        const replaced = parseSessionSecret((await store.attachCookie(issued.session.id, userId)) ?? "");
        expect(await store.findByCookie(issued.session.id, parsed!.hash)).toBeUndefined();
        expect(await store.findByCookie(issued.session.id, replaced!.hash)).toBeDefined();
      });
    });

    it("records the time of the last proof of the user: at creation, then when re-authenticated, for the session's own user only", async () => {
      await withStore(async ({ store, clock }) => {
        const userId = randomUUID();
        const issued = await open(store, userId);
        expect(issued.session.authTime.getTime()).toBe(issued.session.createdAt.getTime());
        clock.advance(10_000);
        expect((await store.touch(issued.session.id, issued.session.userId))?.authTime.getTime()).toBe(issued.session.createdAt.getTime());
        expect(await store.markReauthenticated(issued.session.id, randomUUID())).toBe(false);
        const before = clock.now();
        expect(await store.markReauthenticated(issued.session.id, userId)).toBe(true);
        const after = clock.now();
        const marked = (await store.touch(issued.session.id, issued.session.userId))!.authTime.getTime();
        expect(marked).toBeGreaterThanOrEqual(before);
        expect(marked).toBeLessThanOrEqual(after);
        const rotated = await store.rotate(issued.refreshToken);
        expect(rotated.outcome === "ok" && rotated.session.authTime.getTime()).toBe(marked);
        expect(await store.markReauthenticated("A".repeat(22), userId)).toBe(false);
      });
    });

    it("marks every live session of the user verified and announces each", async () => {
      await withStore(async ({ store, events }) => {
        const userId = randomUUID();
        const [a, b] = await Promise.all([open(store, userId), open(store, userId)]);
        const stranger = await open(store);
        await store.markEmailVerified(userId);
        for (const issued of [a, b]) {
          expect((await store.touch(issued.session.id, issued.session.userId))?.emailVerified).toBe(true);
          await eventFor(events, issued.session.id, "session.changed");
        }
        expect((await store.touch(stranger.session.id, stranger.session.userId))?.emailVerified).toBe(false);
      });
    });
  });
}
