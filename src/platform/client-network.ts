import { isIPv4, isIPv6 } from "node:net";

/**
 * What a per-IP budget counts: an IPv4 address itself, an IPv6 client by its /64. One subscriber
 * or host is routinely handed a whole /64 (RFC 6177, RFC 8981 temporary addresses), so counting
 * single IPv6 addresses would give each client 2^64 budgets. IPv4-mapped IPv6 counts as IPv4.
 */
export function clientNetwork(ip: string): string {
  if (!isIPv6(ip)) return ip;
  const hextets = expand(ip);
  if (hextets.slice(0, 5).every((h) => h === 0) && hextets[5] === 0xffff) {
    return [hextets[6]! >> 8, hextets[6]! & 0xff, hextets[7]! >> 8, hextets[7]! & 0xff].join(".");
  }
  return `${hextets.slice(0, 4).map((h) => h.toString(16)).join(":")}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (RFC 4291 2.2: "::" and a trailing dotted quad). */
function expand(ip: string): number[] {
  const [head = "", tail] = ip.split("::");
  const groups = (part: string): number[] =>
    part === ""
      ? []
      : part.split(":").flatMap((group) => {
          if (!isIPv4(group)) return [parseInt(group, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = group.split(".").map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}
