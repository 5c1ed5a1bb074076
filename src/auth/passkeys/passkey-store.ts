/** A WebAuthn credential as stored; the public key is COSE, as the authenticator gave it. */
export interface StoredPasskey {
  id: string;
  userId: string;
  credentialId: string;
  publicKey: Uint8Array<ArrayBuffer>;
  signCount: number;
  transports: string[];
  deviceType: string;
  backedUp: boolean;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | undefined;
}

export type NewPasskey = Omit<StoredPasskey, "id" | "createdAt" | "lastUsedAt">;

/** Passkeys, read and written on the primary: they are credentials (no lagging replica decides a sign-in). */
export interface PasskeyStore {
  /** Undefined when the credential id is already registered (to anyone). */
  add(passkey: NewPasskey): Promise<StoredPasskey | undefined>;
  byCredentialId(credentialId: string): Promise<StoredPasskey | undefined>;
  listForUser(userId: string): Promise<StoredPasskey[]>;
  remove(userId: string, id: string): Promise<boolean>;
  /**
   * Records a use: the new sign count only if it is higher than the stored one (or both are 0,
   * an authenticator that does not count), so of two replays of one assertion at most one passes.
   */
  recordUse(id: string, previousCount: number, newCount: number, backup: { deviceType: string; backedUp: boolean }): Promise<boolean>;
}
