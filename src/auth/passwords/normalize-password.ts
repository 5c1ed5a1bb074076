/**
 * The form of a password that is hashed and judged: NFKC (NIST SP 800-63B 5.1.1.2, and RFC 8265's
 * OpaqueString profile), so "ｐａｓｓｗｏｒｄ" and "password" are one password everywhere: in the
 * hash, in every policy rule, and in "new must differ from current".
 */
export const normalizePassword = (password: string): string => password.normalize("NFKC");
